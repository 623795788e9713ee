//! The response future of [`LoadShed`](super::LoadShed).

use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::Overloaded;
use crate::status::Status;

pin_project! {
    /// The inner service's answer, or [`Overloaded`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = Projected]
    enum State<F> {
        Called { #[pin] inner: F },
        Shed { overloaded: Option<Overloaded> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn called(inner: F) -> Self {
        Self {
            state: State::Called { inner },
        }
    }

    pub(super) fn shed(overloaded: Overloaded) -> Self {
        Self {
            state: State::Shed {
                overloaded: Some(overloaded),
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
            Projected::Called { inner } => inner.poll(cx),
            Projected::Shed { overloaded } => Poll::Ready(Err(overloaded
                .take()
                .map_or_else(|| Status::resource_exhausted("overloaded"), Status::from))),
        }
    }
}
