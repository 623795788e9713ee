#[arpc::message]
#[derive(Debug)]
struct Big {
    id: u128,
}

fn main() {}
