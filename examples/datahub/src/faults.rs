//! Hold points for crash tests: a process started with `DATAHUB_HOLD_AT=<point>` stops at
//! that point of a partition move (and prints `holding at <point>`), so a test can SIGKILL it
//! exactly there. Points: `dual_write_acked`, `backfill_chunk`, `verified`, `fenced`,
//! `switched`. Unset, a hold costs one comparison.

use std::time::Duration;

/// The hold point a process stops at, if any.
#[derive(Debug, Clone, Default)]
pub struct Holds {
    at: Option<String>,
}

impl Holds {
    /// Hold at `point` (or nowhere).
    pub fn at(point: Option<String>) -> Self {
        Self { at: point }
    }

    /// Reads `DATAHUB_HOLD_AT`.
    pub fn from_env() -> Self {
        Self::at(
            std::env::var("DATAHUB_HOLD_AT")
                .ok()
                .filter(|s| !s.is_empty()),
        )
    }

    /// Stops here forever when `point` is the hold point.
    pub async fn hold(&self, point: &str) {
        if self.at.as_deref() == Some(point) {
            println!("holding at {point}");
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
    }
}
