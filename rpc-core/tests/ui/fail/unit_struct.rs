#[arpc::message]
#[derive(Debug)]
struct Nothing;

fn main() {}
