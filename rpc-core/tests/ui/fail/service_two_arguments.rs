#[arpc::message]
#[derive(Debug)]
struct Req {
    a: i32,
}

#[arpc::service]
trait Svc {
    async fn get(&self, a: Req, b: Req) -> Result<Req, arpc::Status>;
}

fn main() {}
