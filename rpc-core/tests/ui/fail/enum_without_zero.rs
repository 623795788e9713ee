#[arpc::message]
#[derive(Debug)]
enum Level {
    Low = 1,
    High = 2,
}

fn main() {}
