#[arpc::message]
#[derive(Debug)]
enum Payload {
    Many(Vec<i32>),
    One(i32),
}

fn main() {}
