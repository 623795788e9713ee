//! The error of a handler that panicked.

use crate::status::Status;

/// The handler panicked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("the handler panicked; the server keeps serving")]
pub struct Panicked;

impl From<Panicked> for Status {
    fn from(panicked: Panicked) -> Self {
        Status::internal(panicked.to_string())
    }
}
