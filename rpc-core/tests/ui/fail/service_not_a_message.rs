struct Plain;

#[arpc::service]
trait Svc {
    async fn get(&self, req: Plain) -> Result<Plain, arpc::Status>;
}

fn main() {}
