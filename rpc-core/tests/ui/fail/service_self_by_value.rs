#[arpc::message]
#[derive(Debug)]
struct Req {
    a: i32,
}

#[arpc::service]
trait Svc {
    async fn get(self, req: Req) -> Result<Req, arpc::Status>;
    async fn put(&mut self, req: Req) -> Result<Req, arpc::Status>;
}

fn main() {}
