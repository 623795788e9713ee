//! [`Context`]: what a handler knows about the call it serves (deadline, metadata, peer,
//! codecs), read through the ambient accessor [`Context::current`], and the metadata it sends
//! back ([`Context::response_metadata`]).
//!
//! arpc chose an ambient accessor over a `&Context` parameter so that trait signatures stay
//! what the user wrote, and so that a client call made inside a handler can inherit the
//! remaining deadline without being handed anything: the context is a tokio task-local for
//! async (read) handlers and a thread-local for blocking (write) handlers, set for exactly the
//! duration of the handler.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tonic::metadata::MetadataMap;

use crate::codec::{CodecKind, CodecSet};
use crate::trace::TraceContext;

/// The call a handler is serving. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    method: &'static str,
    deadline: Option<Instant>,
    metadata: MetadataMap,
    peer: Option<SocketAddr>,
    request_codec: CodecKind,
    accepted: CodecSet,
    trace: Option<TraceContext>,
    response: Mutex<ResponseMetadata>,
}

/// Metadata a handler answers with, set through [`Context::response_metadata`].
///
/// `headers` go out with the response headers (gRPC's initial metadata), `trailers` with
/// `grpc-status` (trailing metadata). When the handler returns an error, both go out in the
/// error's trailers-only response, along with the [`Status`](crate::Status)'s own metadata.
/// Names gRPC reserves (`grpc-*`, `content-type`, `te`) are not sent.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ResponseMetadata {
    /// Initial metadata.
    pub headers: MetadataMap,
    /// Trailing metadata.
    pub trailers: MetadataMap,
}

impl ResponseMetadata {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.trailers.is_empty()
    }
}

tokio::task_local! {
    static TASK_CONTEXT: Context;
}

thread_local! {
    static THREAD_CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

impl Context {
    pub(crate) fn new(
        method: &'static str,
        deadline: Option<Instant>,
        metadata: MetadataMap,
        peer: Option<SocketAddr>,
        request_codec: CodecKind,
        accepted: CodecSet,
        trace: Option<TraceContext>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                method,
                deadline,
                metadata,
                peer,
                request_codec,
                accepted,
                trace,
                response: Mutex::default(),
            }),
        }
    }

    /// The context of the call the current handler serves; `None` outside a handler.
    pub fn current() -> Option<Context> {
        TASK_CONTEXT
            .try_with(Clone::clone)
            .ok()
            .or_else(|| THREAD_CONTEXT.with(|c| c.borrow().clone()))
    }

    /// The gRPC path, `/{package}.{Service}/{Method}`.
    pub fn method(&self) -> &'static str {
        self.inner.method
    }

    /// When the call's deadline passes: from the caller's `grpc-timeout`, else the method's
    /// default deadline; `None` if neither.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// Time left before the deadline (zero once passed); `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.inner
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The request's metadata (its HTTP/2 headers).
    pub fn metadata(&self) -> &MetadataMap {
        &self.inner.metadata
    }

    /// The caller's address, when the transport knows it.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// The codec the request arrived in.
    pub fn request_codec(&self) -> CodecKind {
        self.inner.request_codec
    }

    /// The call's place in its trace: the server span's, or the caller's `traceparent` when
    /// no span was made (no subscriber); calls the handler makes continue it.
    pub fn trace(&self) -> Option<TraceContext> {
        self.inner.trace
    }

    /// The codecs the caller accepts for the response.
    pub fn accepted_codecs(&self) -> CodecSet {
        self.inner.accepted
    }

    /// The metadata this call answers with; insert into its `headers` or `trailers`:
    ///
    /// ```
    /// # fn handler() {
    /// if let Some(ctx) = arpc::Context::current() {
    ///     let mut meta = ctx.response_metadata();
    ///     meta.headers.insert("x-served-by", "replica-2".parse().unwrap());
    ///     meta.trailers.insert("x-rows-scanned", "1024".parse().unwrap());
    /// }
    /// # }
    /// ```
    ///
    /// The guard is a mutex guard: drop it before an `.await`.
    pub fn response_metadata(&self) -> MutexGuard<'_, ResponseMetadata> {
        self.inner
            .response
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes what the handler set, leaving nothing behind.
    pub(crate) fn take_response_metadata(&self) -> ResponseMetadata {
        std::mem::take(&mut *self.response_metadata())
    }

    /// Runs `fut` with this context as the task's ambient context.
    pub(crate) async fn scope<F: Future>(self, fut: F) -> F::Output {
        TASK_CONTEXT.scope(self, fut).await
    }

    /// Runs `f` with this context as the thread's ambient context.
    pub(crate) fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        struct Reset(Option<Context>);
        impl Drop for Reset {
            fn drop(&mut self) {
                let previous = self.0.take();
                THREAD_CONTEXT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = THREAD_CONTEXT.with(|c| c.borrow_mut().replace(self));
        let _reset = Reset(previous);
        f()
    }
}
