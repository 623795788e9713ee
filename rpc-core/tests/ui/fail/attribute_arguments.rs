#[arpc::message(json)]
#[derive(Debug)]
struct Args {
    a: i32,
}

fn main() {}
