//! [`Registration`]: the handle of an announced instance.

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// An announced instance. [`deregister`](Registration::deregister) withdraws it and waits
/// until the registry has forgotten it; dropping the handle withdraws it in the background.
#[derive(Debug)]
pub struct Registration {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    registered: watch::Receiver<bool>,
}

impl Registration {
    /// A registration kept by `task`, which reports through `registered` and stops (removing
    /// what it announced) when `stop` fires or is dropped.
    #[cfg_attr(not(feature = "zookeeper"), allow(dead_code))]
    pub(crate) fn new(
        stop: oneshot::Sender<()>,
        task: JoinHandle<()>,
        registered: watch::Receiver<bool>,
    ) -> Self {
        Self {
            stop: Some(stop),
            task: Some(task),
            registered,
        }
    }

    /// A registration with nothing behind it (a static registry announces nothing).
    pub fn none() -> Self {
        let (_, registered) = watch::channel(true);
        Self {
            stop: None,
            task: None,
            registered,
        }
    }

    /// Whether the instance is announced right now.
    pub fn is_registered(&self) -> bool {
        *self.registered.borrow()
    }

    /// Waits until the instance is announced (at once if it is).
    pub async fn registered(&mut self) {
        let _ = self.registered.wait_for(|r| *r).await;
    }

    /// Withdraws the instance and waits until that is done (or has failed: an unreachable
    /// registry drops an ephemeral node on its own once the session times out).
    pub async fn deregister(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
