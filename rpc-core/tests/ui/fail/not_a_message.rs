#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Plain {
    x: i32,
}

#[arpc::message]
#[derive(Debug)]
struct Outer {
    inner: Plain,
}

fn main() {}
