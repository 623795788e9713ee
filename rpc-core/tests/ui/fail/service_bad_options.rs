#[arpc::message]
#[derive(Debug)]
struct Req {
    a: i32,
}

#[arpc::service(pkg = "x")]
trait Svc {
    #[arpc(write)]
    async fn get(&self, req: Req) -> Result<Req, arpc::Status>;
    #[arpc(codec = "xml")]
    async fn other(&self, req: Req) -> Result<Req, arpc::Status>;
    #[arpc(retries = 3)]
    fn put(&self, req: Req) -> Result<Req, arpc::Status>;
    #[arpc(max_message_bytes = 0)]
    async fn tiny(&self, req: Req) -> Result<Req, arpc::Status>;
    #[arpc(max_message_bytes = 5000000000)]
    async fn huge(&self, req: Req) -> Result<Req, arpc::Status>;
    #[arpc(compress = "brotli")]
    async fn squeezed(&self, req: Req) -> Result<Req, arpc::Status>;
}

fn main() {}
