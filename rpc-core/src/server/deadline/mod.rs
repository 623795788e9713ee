//! Deadline: a handler that has not answered by the call's deadline is dropped, and the call
//! answers `DEADLINE_EXCEEDED`. The deadline is the caller's `grpc-timeout` or, without one,
//! the method's default (`#[arpc(deadline_ms = N)]`), from when the request arrived; each call
//! gets its [`DeadlineLayer`] from the method, which knows both.
//!
//! Shaped like tower's `timeout`, on a handler service (`Service<Req, Error = Status>`)
//! rather than on HTTP, so the method still encodes the answer (content-type, metadata) and
//! reports it to metrics and tracing like any other.

mod error;
mod future;
mod layer;

pub use self::error::Elapsed;
pub use self::future::ResponseFuture;
pub use self::layer::{Deadline, DeadlineLayer};
