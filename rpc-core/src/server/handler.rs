//! A method's handler as a tower service, for the call-level layers
//! ([`deadline`](super::deadline), [`catch_panic`](super::catch_panic),
//! [`load_shed`](super::load_shed)) to wrap: [`AsyncHandler`] runs a read handler as part of
//! the call's future; [`BlockingHandler`] runs a write handler on the blocking pool, and is
//! ready only while the pool has a place (its `poll_ready` reserves one).

use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::pool::{BlockingPool, JobPanicked, Reservation};
use crate::context::Context as CallContext;
use crate::status::Status;

/// A read handler (`async fn`) as a service of decoded requests.
#[derive(Debug, Clone)]
pub struct AsyncHandler<F> {
    handler: F,
}

impl<F> AsyncHandler<F> {
    /// Wraps `handler`.
    pub fn new(handler: F) -> Self {
        Self { handler }
    }
}

impl<F, Req, Fut, Resp> tower::Service<Req> for AsyncHandler<F>
where
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Resp, Status>>,
{
    type Response = Resp;
    type Error = Status;
    type Future = Fut;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Fut {
        (self.handler)(request)
    }
}

/// A write handler (`fn`) as a service of decoded requests, run on a blocking pool in the
/// call's [`Context`](crate::Context). A job that reaches a thread after the call's deadline
/// is skipped.
#[derive(Debug)]
pub struct BlockingHandler<F> {
    handler: F,
    pool: BlockingPool,
    context: CallContext,
    deadline: Option<Instant>,
    reserved: Option<Reservation>,
}

impl<F> BlockingHandler<F> {
    /// Runs `handler` on `pool`, in `context`, skipping it past `deadline`.
    pub fn new(
        handler: F,
        pool: BlockingPool,
        context: CallContext,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            handler,
            pool,
            context,
            deadline,
            reserved: None,
        }
    }
}

impl<F, Req, Resp> tower::Service<Req> for BlockingHandler<F>
where
    F: FnMut(Req) -> Result<Resp, Status> + Clone + Send + 'static,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Resp, Status>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        if self.reserved.is_none() {
            self.reserved = Some(std::task::ready!(self.pool.poll_reserve(cx)));
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let mut handler = self.handler.clone();
        let context = self.context.clone();
        let deadline = self.deadline;
        let job = move || {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Status::deadline_exceeded(
                    "the deadline passed while the call waited for a blocking-pool thread",
                ));
            }
            context.sync_scope(|| handler(request))
        };
        let panicked = |JobPanicked| Err(super::catch_panic::Panicked.into());
        match self.reserved.take() {
            Some(reservation) => Box::pin(
                reservation
                    .spawn(job)
                    .map(move |r| r.unwrap_or_else(panicked)),
            ),
            // `call` without `poll_ready`: take a place now, or refuse.
            None => match self.pool.try_spawn(job) {
                Ok(running) => Box::pin(running.map(move |r| r.unwrap_or_else(panicked))),
                Err(full) => {
                    let refused = Status::new(crate::Code::ResourceExhausted, full.to_string());
                    Box::pin(std::future::ready(Err(refused)))
                }
            },
        }
    }
}

/// The call-level layers on handler services, called with `oneshot` (no socket, no HTTP).
#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    use tower::{Service, ServiceBuilder, ServiceExt};

    use super::*;
    use crate::codec::{CodecKind, CodecSet};
    use crate::server::PoolConfig;
    use crate::server::catch_panic::CatchPanicLayer;
    use crate::server::deadline::DeadlineLayer;
    use crate::server::load_shed::LoadShedLayer;
    use crate::status::Code;

    fn context() -> CallContext {
        CallContext::new(
            "/test.v1.T/M",
            None,
            tonic::metadata::MetadataMap::new(),
            None,
            CodecKind::Proto,
            CodecSet::ALL,
            None,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_a_slow_handler_and_spares_a_quick_one() {
        let slow = |ms: u64| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Status>(ms)
        };
        let at = Instant::now() + Duration::from_millis(100);
        let stack = |_: ()| {
            ServiceBuilder::new()
                .layer(DeadlineLayer::new(Some(at)))
                .service(AsyncHandler::new(slow))
        };
        assert_eq!(stack(()).oneshot(50).await.unwrap(), 50);
        let err = stack(()).oneshot(500).await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
        // No deadline: no limit.
        let unlimited = ServiceBuilder::new()
            .layer(DeadlineLayer::new(None))
            .service(AsyncHandler::new(slow));
        assert_eq!(unlimited.oneshot(5_000).await.unwrap(), 5_000);
    }

    #[tokio::test]
    async fn a_panic_answers_internal_and_the_service_keeps_answering() {
        async fn handler(text: &'static str) -> Result<&'static str, Status> {
            tokio::task::yield_now().await;
            assert!(text != "panic in poll", "the handler was asked to panic");
            Ok(text)
        }
        let mut service =
            ServiceBuilder::new()
                .layer(CatchPanicLayer::new())
                .service(AsyncHandler::new(|text: &'static str| {
                    assert!(text != "panic in call", "the handler was asked to panic");
                    handler(text)
                }));
        for text in ["panic in call", "panic in poll"] {
            let err = service.ready().await.unwrap().call(text).await.unwrap_err();
            assert_eq!(err.code(), Code::Internal, "{err}");
            assert!(err.message().contains("panicked"), "{err}");
        }
        let fine = service.ready().await.unwrap().call("fine").await.unwrap();
        assert_eq!(fine, "fine");
    }

    #[tokio::test]
    async fn a_full_pool_sheds_calls_at_once_and_takes_them_again_when_free() {
        let pool = BlockingPool::new(PoolConfig::default().threads(1).queue(0));
        let gate = Arc::new(Barrier::new(2));
        let blocking = |pool: &BlockingPool| {
            let gate = Arc::clone(&gate);
            ServiceBuilder::new()
                .layer(LoadShedLayer::new(pool.saturated()))
                .service(BlockingHandler::new(
                    move |wait: bool| {
                        if wait {
                            gate.wait();
                        }
                        Ok::<_, Status>(wait)
                    },
                    pool.clone(),
                    context(),
                    None,
                ))
        };
        // The one thread is taken (and held at the gate).
        let held = tokio::spawn(blocking(&pool).oneshot(true));
        while pool.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let err = blocking(&pool).oneshot(false).await.unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
        assert!(err.message().contains("saturated"), "{err}");

        // Without load shedding, a handler service waits in `poll_ready` for a place, and is
        // woken when the held job finishes.
        let mut patient = BlockingHandler::new(
            |n: u32| Ok::<_, Status>(n + 1),
            pool.clone(),
            context(),
            None,
        );
        let waiting = tokio::spawn(async move {
            let ready = patient.ready().await.unwrap();
            ready.call(1).await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a place was taken from a full pool");
        gate.wait();
        assert!(held.await.unwrap().unwrap());
        let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("woken when the pool had a place again");
        assert_eq!(answer.unwrap().unwrap(), 2);
        assert_eq!(pool.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_job_that_reaches_a_thread_after_the_deadline_is_skipped() {
        let pool = BlockingPool::new(PoolConfig::default().threads(1));
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let past = Instant::now().checked_sub(Duration::from_millis(1));
        let handler = BlockingHandler::new(
            move |(): ()| {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, Status>(())
            },
            pool,
            context(),
            past,
        );
        let err = handler.oneshot(()).await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
