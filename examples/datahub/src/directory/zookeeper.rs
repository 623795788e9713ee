//! The directory document in one ZooKeeper znode (`<base>/datahub/directory`), on the
//! registry crate's ZooKeeper session: compare-and-set is `setData` with the expected znode
//! version (a lost race is ZooKeeper's `BadVersion`), and every process keeps a data watch
//! on the node, so a change reaches all of them at once. The document stays far below the
//! 1 MiB znode limit (placements are stored only where they differ from the initial rule).

use std::time::Duration;

use arpc::registry::zk;
use arpc::registry::{Registry, ZooKeeper};

use super::{DirectoryError, DirectoryState, parse, render};

/// The directory in ZooKeeper.
#[derive(Debug, Clone)]
pub struct ZkDirectory {
    registry: ZooKeeper,
    path: String,
}

fn store(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Store(format!("ZooKeeper: {e}"))
}

fn version(stat: &zk::Stat) -> u64 {
    u64::try_from(stat.version).unwrap_or(0)
}

impl ZkDirectory {
    /// The directory under the base path of `url` (`zk://host:port,…/base`).
    pub async fn connect(url: &str) -> Result<Self, DirectoryError> {
        let Registry::ZooKeeper(registry) =
            Registry::from_url(url).map_err(|e| DirectoryError::Store(e.to_string()))?
        else {
            return Err(DirectoryError::Store(format!("`{url}` is not a zk:// URL")));
        };
        let path = format!("{}/datahub/directory", registry.base());
        Ok(Self { registry, path })
    }

    /// The directory under the base path of an existing registry (sharing its session).
    pub fn with_registry(registry: ZooKeeper) -> Self {
        let path = format!("{}/datahub/directory", registry.base());
        Self { registry, path }
    }

    /// The znode's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The registry (and ZooKeeper session) the directory lives in.
    pub fn registry(&self) -> &ZooKeeper {
        &self.registry
    }

    /// Where listeners report their status: one EPHEMERAL child per listener process, so a
    /// process that dies drops out when its session ends.
    fn statuses_path(&self) -> String {
        format!("{}/datahub/listeners", self.registry.base())
    }

    /// Writes `listener`'s status document (creating its ephemeral node when it has none:
    /// at the first report, and after a session loss). Bounded by a few seconds, so a
    /// ZooKeeper outage delays a report rather than stopping the reporter.
    pub async fn put_status(&self, listener: &str, doc: &[u8]) -> Result<(), DirectoryError> {
        let parent = self.statuses_path();
        let path = format!("{parent}/{listener}");
        let write = async {
            let client = self.client().await?;
            match client.set_data(&path, doc, None).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(store(e)),
            }
            client
                .mkdir(
                    &parent,
                    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
                )
                .await
                .map_err(store)?;
            match client
                .create(
                    &path,
                    doc,
                    &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
                )
                .await
            {
                Ok(_) => Ok(()),
                // Created by this session in the meantime (a report racing a reconnect).
                Err(zk::Error::NodeExists) => client
                    .set_data(&path, doc, None)
                    .await
                    .map(|_| ())
                    .map_err(store),
                Err(e) => Err(store(e)),
            }
        };
        tokio::time::timeout(Duration::from_secs(3), write)
            .await
            .unwrap_or_else(|_| Err(store("status report timed out")))
    }

    /// Every listener's latest status document (listeners whose session ended are gone).
    pub async fn statuses(&self) -> Result<Vec<Vec<u8>>, DirectoryError> {
        let parent = self.statuses_path();
        let read = async {
            let client = self.client().await?;
            let children = match client.list_children(&parent).await {
                Ok(children) => children,
                Err(zk::Error::NoNode) => return Ok(Vec::new()),
                Err(e) => return Err(store(e)),
            };
            let mut docs = Vec::with_capacity(children.len());
            for child in children {
                match client.get_data(&format!("{parent}/{child}")).await {
                    Ok((data, _)) => docs.push(data),
                    Err(zk::Error::NoNode) => {}
                    Err(e) => return Err(store(e)),
                }
            }
            Ok(docs)
        };
        tokio::time::timeout(Duration::from_secs(3), read)
            .await
            .unwrap_or_else(|_| Err(store("reading statuses timed out")))
    }

    async fn client(&self) -> Result<zk::Client, DirectoryError> {
        self.registry.client().await.map_err(store)
    }

    pub(super) async fn load(&self) -> Result<Option<(u64, DirectoryState)>, DirectoryError> {
        let client = self.client().await?;
        match client.get_data(&self.path).await {
            Ok((data, stat)) => Ok(Some((version(&stat), parse(&data)?))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(store(e)),
        }
    }

    pub(super) async fn create(
        &self,
        state: &DirectoryState,
    ) -> Result<(u64, DirectoryState), DirectoryError> {
        let client = self.client().await?;
        if let Some((parent, _)) = self.path.rsplit_once('/') {
            client
                .mkdir(
                    parent,
                    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
                )
                .await
                .map_err(store)?;
        }
        match client
            .create(
                &self.path,
                &render(state)?,
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await
        {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(store(e)),
        }
        self.load()
            .await?
            .ok_or_else(|| DirectoryError::Store("created, then not found".into()))
    }

    pub(super) async fn cas(
        &self,
        expected: u64,
        state: &DirectoryState,
    ) -> Result<u64, DirectoryError> {
        let client = self.client().await?;
        let expected_version = i32::try_from(expected).map_err(store)?;
        match client
            .set_data(&self.path, &render(state)?, Some(expected_version))
            .await
        {
            Ok(stat) => Ok(version(&stat)),
            Err(zk::Error::BadVersion) => Err(DirectoryError::Conflict { expected }),
            Err(e) => Err(store(e)),
        }
    }

    pub(super) async fn changed(&self, seen: u64) {
        let watched = async {
            let client = self.client().await?;
            let (_, stat, watcher) = client.get_and_watch_data(&self.path).await.map_err(store)?;
            if version(&stat) != seen {
                return Ok(());
            }
            watcher.changed().await;
            Ok::<(), DirectoryError>(())
        };
        // Bounded, so a lost session or an outage is retried rather than waited on forever.
        match tokio::time::timeout(Duration::from_secs(5), watched).await {
            Ok(Ok(())) | Err(_) => {}
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
