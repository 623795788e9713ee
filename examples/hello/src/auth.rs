//! [`RequireTokenLayer`]: a user's server layer, as the README shows one. Calls without
//! `authorization: Bearer <token>` are answered `UNAUTHENTICATED` before any service sees
//! them; the rest go on.

use std::task::{Context, Poll};

use arpc::Status;
use arpc::server::{RequestBody, ResponseBody};

/// Requires a bearer token on every call.
#[derive(Debug, Clone, Copy)]
pub struct RequireTokenLayer {
    token: &'static str,
}

impl RequireTokenLayer {
    /// Requires `token`.
    pub fn new(token: &'static str) -> Self {
        Self { token }
    }
}

impl<S> tower::Layer<S> for RequireTokenLayer {
    type Service = RequireToken<S>;

    fn layer(&self, inner: S) -> RequireToken<S> {
        RequireToken {
            inner,
            token: self.token,
        }
    }
}

/// The service [`RequireTokenLayer`] makes.
#[derive(Debug, Clone)]
pub struct RequireToken<S> {
    inner: S,
    token: &'static str,
}

type Call = http::Request<RequestBody>;
type Answer = http::Response<ResponseBody>;

impl<S> tower::Service<Call> for RequireToken<S>
where
    S: tower::Service<Call, Response = Answer, Error: Into<arpc::BoxError>>,
    S::Future: Send + 'static,
{
    type Response = Answer;
    type Error = arpc::BoxError;
    type Future = futures_util::future::BoxFuture<'static, Result<Answer, arpc::BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), arpc::BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Call) -> Self::Future {
        let allowed = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            == Some(self.token);
        if !allowed {
            let refused = Status::unauthenticated("a bearer token is required");
            return Box::pin(async move { Err(refused.into()) });
        }
        let answer = self.inner.call(request);
        Box::pin(async move { answer.await.map_err(Into::into) })
    }
}
