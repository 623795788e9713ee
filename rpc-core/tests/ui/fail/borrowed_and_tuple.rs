#[arpc::message]
#[derive(Debug)]
struct Borrowed {
    name: &'static str,
    pair: (i32, i32),
    boxed: Box<i32>,
    array: [u8; 4],
}

fn main() {}
