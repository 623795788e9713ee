//! [`LoadShedLayer`] and the service it makes.

use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Overloaded, ResponseFuture};
use crate::status::Status;

/// Refuses calls while the inner service is not ready, saying `reason` (what is full).
#[derive(Debug, Clone)]
pub struct LoadShedLayer {
    reason: Arc<str>,
}

impl LoadShedLayer {
    /// A layer whose refusals say `reason`.
    pub fn new(reason: Arc<str>) -> Self {
        Self { reason }
    }
}

impl<S> tower::Layer<S> for LoadShedLayer {
    type Service = LoadShed<S>;

    fn layer(&self, inner: S) -> LoadShed<S> {
        LoadShed {
            inner,
            ready: false,
            reason: Arc::clone(&self.reason),
        }
    }
}

/// A handler service that is always ready, and refuses a call its inner service was not
/// ready for.
#[derive(Debug, Clone)]
pub struct LoadShed<S> {
    inner: S,
    /// The inner service said ready in the last `poll_ready`.
    ready: bool,
    reason: Arc<str>,
}

impl<S, R> tower::Service<R> for LoadShed<S>
where
    S: tower::Service<R, Error = Status>,
{
    type Response = S::Response;
    type Error = Status;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.ready = match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => false,
        };
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: R) -> Self::Future {
        if std::mem::take(&mut self.ready) {
            ResponseFuture::called(self.inner.call(request))
        } else {
            ResponseFuture::shed(Overloaded::new(Arc::clone(&self.reason)))
        }
    }
}
