//! The error of a call past its deadline.

use crate::status::Status;

/// The deadline passed before the handler answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("the deadline passed before the handler finished")]
pub struct Elapsed;

impl From<Elapsed> for Status {
    fn from(elapsed: Elapsed) -> Self {
        Status::deadline_exceeded(elapsed.to_string())
    }
}
