#[arpc::message]
#[derive(Debug)]
struct Pair(i32, i32);

fn main() {}
