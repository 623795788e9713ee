#[arpc::message]
#[derive(Debug)]
struct Reserved {
    #[arpc(tag = 19500)]
    a: i32,
    #[arpc(tag = 0)]
    b: i32,
}

fn main() {}
