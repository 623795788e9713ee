#[arpc::message]
#[derive(Debug)]
struct Opts {
    #[arpc(number = 3)]
    a: i32,
    #[arpc(tag = "three")]
    b: i32,
}

fn main() {}
