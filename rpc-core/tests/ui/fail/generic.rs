#[arpc::message]
#[derive(Debug)]
struct Wrapper<T> {
    inner: T,
}

fn main() {}
