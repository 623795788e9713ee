//! The shards a process uses, opened as the directory names them (a shard added through the
//! control API is opened on first use by every process).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::{Shard, ShardOptions, StoreError};
use crate::directory::Directory;

/// Open shards by id. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShardSet {
    directory: Directory,
    options: ShardOptions,
    open: Arc<RwLock<HashMap<u32, Shard>>>,
    opening: Arc<tokio::sync::Mutex<()>>,
}

impl ShardSet {
    /// Shards named by `directory`, opened with `options`.
    pub fn new(directory: Directory, options: ShardOptions) -> Self {
        Self {
            directory,
            options,
            open: Arc::default(),
            opening: Arc::default(),
        }
    }

    /// The directory the shards come from.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Shard `id`, opening it when needed.
    pub async fn get(&self, id: u32) -> Result<Shard, StoreError> {
        if let Some(shard) = self.open.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(shard);
        }
        let _one_at_a_time = self.opening.lock().await;
        if let Some(shard) = self.open.read().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(shard);
        }
        let mut spec = self
            .directory
            .snapshot()
            .state
            .shards
            .get(id as usize)
            .cloned();
        if spec.is_none() {
            spec = self
                .directory
                .refresh()
                .await
                .ok()
                .and_then(|s| s.state.shards.get(id as usize).cloned());
        }
        let Some(spec) = spec else {
            return Err(StoreError::BadUrl {
                url: format!("shard {id}"),
                reason: "the directory has no such shard".into(),
            });
        };
        let shard = Shard::open(id, &spec.url, &self.options).await?;
        if let Ok(mut m) = self.open.write() {
            m.insert(id, shard.clone());
        }
        Ok(shard)
    }

    /// The shards open now.
    pub fn opened(&self) -> Vec<Shard> {
        let mut v: Vec<Shard> = self
            .open
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(Shard::id);
        v
    }
}
