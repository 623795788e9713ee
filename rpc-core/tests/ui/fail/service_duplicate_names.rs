#[arpc::message]
#[derive(Debug)]
struct Req {
    a: i32,
}

#[arpc::service]
trait Svc {
    async fn get_item(&self, req: Req) -> Result<Req, arpc::Status>;
    #[arpc(name = "GetItem")]
    async fn fetch(&self, req: Req) -> Result<Req, arpc::Status>;
}

fn main() {}
