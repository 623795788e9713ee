//! The read benchmark's baseline: a `Query` service that answers every screen with one fixed,
//! already-built [`DisplayScreen`] and does nothing else. Served by `datahub echo-screen` in
//! its own process, it costs what arpc costs for a screen (the call, the codec, the bytes);
//! the hub's `Query.screen` over the same screen adds only the hub's work.

use std::sync::Arc;

use arpc::Status;

use crate::model::{DisplayScreen, GetRequest, Records, ScreenRequest};

/// Answers every screen with the same one.
#[derive(Debug, Clone)]
pub struct EchoScreen {
    screen: Arc<DisplayScreen>,
}

impl EchoScreen {
    /// An echo of `screen`.
    pub fn new(screen: DisplayScreen) -> Self {
        Self {
            screen: Arc::new(screen),
        }
    }
}

impl crate::service::Query for EchoScreen {
    async fn screen(&self, _: ScreenRequest) -> Result<DisplayScreen, Status> {
        Ok(DisplayScreen::clone(&self.screen))
    }

    async fn get(&self, _: GetRequest) -> Result<Records, Status> {
        Ok(Records::default())
    }
}
