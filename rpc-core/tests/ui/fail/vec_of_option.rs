#[arpc::message]
#[derive(Debug)]
struct Holes {
    values: Vec<Option<i32>>,
}

fn main() {}
