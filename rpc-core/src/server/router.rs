//! [`Router`]: dispatches a request to the service named in its path
//! (`/{package}.{Service}/{Method}`); anything else is answered `UNIMPLEMENTED`. It serves
//! requests with a [`RequestBody`], so it runs the same behind a connection and in a test's
//! `oneshot`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;

use super::body::{RequestBody, ResponseBody};
use super::method::unimplemented;
use crate::wire::UnaryBody;

type BoxedService = BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, Infallible>;

/// The full name of the (non-arpc, streamed) service that answered, in the response's
/// extensions; arpc's own methods put a [`CallInfo`](super::CallInfo) there instead.
#[derive(Debug, Clone, Copy)]
pub struct RoutedService(pub &'static str);

/// Services by full name.
#[derive(Clone, Default)]
pub struct Router {
    services: Arc<HashMap<&'static str, BoxedService>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.services.keys()).finish()
    }
}

impl Router {
    /// Adds a service under `full_name` (`package.Service`).
    #[must_use]
    pub fn add<S>(mut self, full_name: &'static str, service: S) -> Self
    where
        S: tower::Service<Request<RequestBody>, Response = Response<UnaryBody>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let service = service.map_response(|r: Response<UnaryBody>| r.map(ResponseBody::Unary));
        Arc::make_mut(&mut self.services).insert(full_name, BoxCloneSyncService::new(service));
        self
    }

    /// Adds a tonic service (streaming bodies) under `full_name`.
    pub(crate) fn add_tonic<S>(mut self, full_name: &'static str, service: S) -> Self
    where
        S: tower::Service<
                Request<RequestBody>,
                Response = Response<tonic::body::Body>,
                Error = Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let service = service.map_response(move |r: Response<tonic::body::Body>| {
            let mut r = r.map(ResponseBody::Stream);
            r.extensions_mut().insert(RoutedService(full_name));
            r
        });
        Arc::make_mut(&mut self.services).insert(full_name, BoxCloneSyncService::new(service));
        self
    }
}

impl tower::Service<Request<RequestBody>> for Router {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let path = request.uri().path();
        let service = crate::wire::split_path(path)
            .and_then(|(name, _)| self.services.get(name))
            .cloned();
        match service {
            Some(service) => Box::pin(service.oneshot(request)),
            None => {
                let response = unimplemented(path).map(ResponseBody::Unary);
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
