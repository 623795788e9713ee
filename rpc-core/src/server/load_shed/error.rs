//! The error of a shed call.

use std::sync::Arc;

use crate::status::{Code, Status};

/// The service was at capacity; the call was refused without waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Overloaded {
    reason: Arc<str>,
}

impl Overloaded {
    pub(super) fn new(reason: Arc<str>) -> Self {
        Self { reason }
    }
}

impl From<Overloaded> for Status {
    fn from(overloaded: Overloaded) -> Self {
        Status::new(Code::ResourceExhausted, overloaded.to_string())
    }
}
