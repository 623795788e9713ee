//! [`DeadlineLayer`] and the service it makes.

use std::task::{Context, Poll};
use std::time::Instant;

use super::ResponseFuture;
use crate::status::Status;

/// Applies one call's deadline (none: no limit).
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    deadline: Option<Instant>,
}

impl DeadlineLayer {
    /// A layer ending calls at `deadline`.
    pub fn new(deadline: Option<Instant>) -> Self {
        Self { deadline }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            deadline: self.deadline,
        }
    }
}

/// A handler service whose calls end with `DEADLINE_EXCEEDED` at the deadline.
#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    deadline: Option<Instant>,
}

impl<S, R> tower::Service<R> for Deadline<S>
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
        let sleep = self
            .deadline
            .map(|at| tokio::time::sleep_until(tokio::time::Instant::from_std(at)));
        ResponseFuture::new(self.inner.call(request), sleep)
    }
}
