#[arpc::message]
#[derive(Debug)]
struct Req {
    a: i32,
}

#[arpc::service]
trait Svc {
    async fn by_ref(&self, req: &Req) -> Result<Req, arpc::Status>;
    async fn pattern(&self, Req { a }: Req) -> Result<Req, arpc::Status>;
    async fn none(&self) -> Result<Req, arpc::Status>;
}

fn main() {}
