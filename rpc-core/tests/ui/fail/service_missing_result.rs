#[arpc::message]
#[derive(Debug)]
struct Req {
    a: i32,
}

#[arpc::service]
trait Svc {
    async fn get(&self, req: Req) -> Req;
    async fn nothing(&self, req: Req);
    async fn wrong_error(&self, req: Req) -> Result<Req, String>;
}

fn main() {}
