//! gRPC server reflection (`grpc.reflection.v1` and `grpc.reflection.v1alpha`), served by every
//! [`Server`](crate::Server) unless turned off with
//! [`without_reflection`](crate::server::ServerBuilder::without_reflection).
//!
//! Tools such as `grpcurl`, Postman or Python's `grpcio-reflection` use it to list a server's
//! services and fetch their descriptors, then call methods without the `.proto` file. The
//! descriptors come from the services' schemas ([`crate::descriptor`]); the protocol is
//! tonic's `tonic-reflection` (a bidirectional stream, the one non-unary service arpc
//! serves).
//!
//! A service whose schema cannot be described (two Rust types with one protobuf name, which
//! `arpc-codegen` reports the same way) is left out of reflection and still served.

use std::convert::Infallible;

use http::{Request, Response};
use prost_types::FileDescriptorSet;

use crate::descriptor;
use crate::schema::ServiceSchema;
use crate::server::RequestBody;

/// The full names of the two reflection services.
pub const SERVICE_NAMES: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// A reflection service (either version) as the router holds it.
pub(crate) trait ReflectionService:
    tower::Service<
        Request<RequestBody>,
        Response = Response<tonic::body::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> ReflectionService for S where
    S: tower::Service<
            Request<RequestBody>,
            Response = Response<tonic::body::Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The descriptors of `services`, plus `google/protobuf/empty.proto` when one of them needs it.
pub fn descriptor_set(services: &[&'static ServiceSchema]) -> FileDescriptorSet {
    let mut set = FileDescriptorSet::default();
    let mut needs_empty = false;
    for service in services {
        if let Ok(file) = descriptor::file_descriptor(service) {
            needs_empty |= file.dependency.iter().any(|d| d == descriptor::EMPTY_FILE);
            set.file.push(file);
        }
    }
    if needs_empty {
        set.file.push(descriptor::empty_file());
    }
    set
}

/// The v1 and v1alpha reflection services for `services`.
pub(crate) fn services(
    services: &[&'static ServiceSchema],
) -> Option<(impl ReflectionService, impl ReflectionService)> {
    let set = descriptor_set(services);
    let v1 = tonic_reflection::server::Builder::configure()
        .register_file_descriptor_set(set.clone())
        .build_v1()
        .ok()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_file_descriptor_set(set)
        .build_v1alpha()
        .ok()?;
    Some((v1, v1alpha))
}
