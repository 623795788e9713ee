//! Catching panics: a handler that panics answers `INTERNAL`, and the server keeps serving
//! (the connection, and every other call on it, go on). Shaped like tower-http's
//! `catch_panic`, on a handler service (`Service<Req, Error = Status>`). A write handler's
//! panic happens on a blocking-pool thread, which catches it itself; this layer covers the
//! handlers that run as part of the call's future.

mod error;
mod future;
mod layer;

pub use self::error::Panicked;
pub use self::future::ResponseFuture;
pub use self::layer::{CatchPanic, CatchPanicLayer};
