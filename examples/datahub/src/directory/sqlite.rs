//! The directory document in the `meta` SQLite file: one row, CAS by `version`. Other
//! processes on the same file see changes by polling the version (every 20 ms), which costs
//! one indexed read.

use std::time::Duration;

use super::{DirectoryError, DirectoryState};
use crate::meta::{MetaDb, MetaError};

/// How often other processes' changes are looked for.
const POLL: Duration = Duration::from_millis(20);

/// The directory in a `meta` file.
#[derive(Debug, Clone)]
pub struct SqliteDirectory {
    meta: MetaDb,
}

impl From<MetaError> for DirectoryError {
    fn from(e: MetaError) -> Self {
        DirectoryError::Store(e.to_string())
    }
}

fn parse(doc: &str) -> Result<DirectoryState, DirectoryError> {
    super::parse(doc.as_bytes())
}

fn render(state: &DirectoryState) -> Result<String, DirectoryError> {
    String::from_utf8(super::render(state)?).map_err(|e| DirectoryError::Corrupt(e.to_string()))
}

impl SqliteDirectory {
    /// The directory stored in `meta`.
    pub fn new(meta: MetaDb) -> Self {
        Self { meta }
    }

    pub(super) async fn load(&self) -> Result<Option<(u64, DirectoryState)>, DirectoryError> {
        match self.meta.directory().await? {
            Some((version, doc)) => Ok(Some((version, parse(&doc)?))),
            None => Ok(None),
        }
    }

    pub(super) async fn create(
        &self,
        state: &DirectoryState,
    ) -> Result<(u64, DirectoryState), DirectoryError> {
        self.meta.create_directory(render(state)?).await?;
        self.load()
            .await?
            .ok_or_else(|| DirectoryError::Store("created, then not found".into()))
    }

    pub(super) async fn cas(
        &self,
        expected: u64,
        state: &DirectoryState,
    ) -> Result<u64, DirectoryError> {
        self.meta
            .cas_directory(expected, render(state)?)
            .await?
            .ok_or(DirectoryError::Conflict { expected })
    }

    pub(super) async fn changed(&self, seen: u64) {
        loop {
            tokio::time::sleep(POLL).await;
            match self.meta.directory_version().await {
                Ok(Some(v)) if v != seen => return,
                Ok(_) => {}
                // Unreadable for now: let the caller try a full read, which reports it.
                Err(_) => return,
            }
        }
    }
}
