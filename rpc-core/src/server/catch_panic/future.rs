//! The response future of [`CatchPanic`](super::CatchPanic).

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::Panicked;
use crate::status::Status;

pin_project! {
    /// The handler's answer, or [`Panicked`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = Projected]
    enum State<F> {
        Running { #[pin] inner: F },
        Failed { panicked: Option<Panicked> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn running(inner: F) -> Self {
        Self {
            state: State::Running { inner },
        }
    }

    pub(super) fn failed(panicked: Panicked) -> Self {
        Self {
            state: State::Failed {
                panicked: Some(panicked),
            },
        }
    }
}

impl<F, T> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, Status>>,
{
    type Output = Result<T, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            Projected::Running { inner } => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
                    Ok(poll) => poll,
                    Err(_) => Poll::Ready(Err(Panicked.into())),
                }
            }
            Projected::Failed { panicked } => {
                Poll::Ready(Err(panicked.take().unwrap_or_default().into()))
            }
        }
    }
}
