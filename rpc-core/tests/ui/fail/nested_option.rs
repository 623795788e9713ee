#[arpc::message]
#[derive(Debug)]
struct Maybe {
    twice: Option<Option<i32>>,
}

fn main() {}
