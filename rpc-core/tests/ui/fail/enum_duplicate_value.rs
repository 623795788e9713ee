#[arpc::message]
#[derive(Debug)]
enum Level {
    Zero = 0,
    Low = 1,
    Also = 1,
}

fn main() {}
