//! Load shedding: a call to a service that is not ready (its `poll_ready` is pending: every
//! blocking-pool thread busy and the queue full) is refused at once with `RESOURCE_EXHAUSTED`
//! instead of waiting, so overload is answered, not queued without bound; a client may retry
//! elsewhere. Shaped like tower's `load_shed`, on a handler service
//! (`Service<Req, Error = Status>`).

mod error;
mod future;
mod layer;

pub use self::error::Overloaded;
pub use self::future::ResponseFuture;
pub use self::layer::{LoadShed, LoadShedLayer};
