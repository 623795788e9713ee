//! [`CatchPanicLayer`] and the service it makes.

use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};

use super::{Panicked, ResponseFuture};
use crate::status::Status;

/// Turns a panic of the handler (while it is called or polled) into `INTERNAL`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatchPanicLayer;

impl CatchPanicLayer {
    /// The layer.
    pub fn new() -> Self {
        Self
    }
}

impl<S> tower::Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic { inner }
    }
}

/// A handler service whose panics answer `INTERNAL`.
#[derive(Debug, Clone)]
pub struct CatchPanic<S> {
    inner: S,
}

impl<S, R> tower::Service<R> for CatchPanic<S>
where
    S: tower::Service<R, Error = Status>,
{
    type Response = S::Response;
    type Error = Status;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // A handler may panic before it returns its future, too.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => ResponseFuture::running(future),
            Err(_) => ResponseFuture::failed(Panicked),
        }
    }
}
