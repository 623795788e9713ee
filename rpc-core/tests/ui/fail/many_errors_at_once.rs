#[arpc::message]
#[derive(Debug)]
struct Everything {
    letter: char,
    #[arpc(tag = 1)]
    clash: i32,
    wide: i128,
}

fn main() {}
