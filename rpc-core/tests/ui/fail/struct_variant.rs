#[arpc::message]
#[derive(Debug)]
enum Shape {
    Circle { radius: f64 },
    Point,
}

fn main() {}
