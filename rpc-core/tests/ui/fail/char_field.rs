#[arpc::message]
#[derive(Debug)]
struct Letter {
    initial: char,
}

fn main() {}
