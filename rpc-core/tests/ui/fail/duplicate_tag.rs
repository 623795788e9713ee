#[arpc::message]
#[derive(Debug)]
struct Clash {
    a: i32,
    #[arpc(tag = 1)]
    b: i32,
}

fn main() {}
