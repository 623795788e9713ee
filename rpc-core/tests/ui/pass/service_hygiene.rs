//! The service macro's output names everything by absolute path.
#![no_implicit_prelude]

#[allow(dead_code)]
mod shadows {
    pub struct Option;
    pub struct Result;
    pub struct Box;
    pub struct Arc;
    pub trait Send {}
    pub trait Future {}
}

#[allow(unused_imports)]
use shadows::*;

#[::arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct Req {
    n: i64,
}

#[::arpc::service(package = "hygiene.v1")]
trait Counter {
    async fn get(&self, req: Req) -> ::core::result::Result<Req, ::arpc::Status>;
    #[arpc(codec = "auto", deadline_ms = 250)]
    fn add(&self, req: Req) -> ::core::result::Result<Req, ::arpc::Status>;
}

struct Impl;

impl Counter for Impl {
    async fn get(&self, req: Req) -> ::core::result::Result<Req, ::arpc::Status> {
        ::core::result::Result::Ok(req)
    }
    fn add(&self, req: Req) -> ::core::result::Result<Req, ::arpc::Status> {
        ::core::result::Result::Ok(req)
    }
}

fn main() {
    let _server = CounterServer::new(Impl);
    let schema = CounterClient::schema();
    ::std::assert_eq!(schema.full_name, "hygiene.v1.Counter");
    ::std::assert_eq!(schema.methods[1].path, "/hygiene.v1.Counter/Add");
}
