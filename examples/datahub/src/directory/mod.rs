//! The partition directory: which shard holds each logical partition, and the hub's runtime
//! control state (pauses, concurrency, pending seeks and replays, partition moves).
//!
//! It is **one document with a version**, edited only by compare-and-set: read it, change a
//! copy, write it back if the version is still the one read; on a conflict, read again and
//! redo the change. Both back ends offer exactly that: a row in the `meta` SQLite file
//! (`UPDATE … WHERE version = ?`) or one ZooKeeper znode (`setData` with the expected znode
//! version). Every process watches the document and acts on what it sees at its next batch
//! boundary, so control works across processes and survives restarts: a pause lives here,
//! not in a consumer, and is re-applied whenever a pipeline (re)starts.
//!
//! Placement is `lp % initial shard count` until a move overrides it; the overrides and the
//! rest stay small (a few KiB), far under ZooKeeper's 1 MiB znode limit.

pub mod sqlite;
#[cfg(feature = "zookeeper")]
pub mod zookeeper;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::model::Domain;
use crate::partition::{Group, LOGICAL_PARTITIONS, LogPartition, Lp};

pub use self::sqlite::SqliteDirectory;

/// One shard as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// `sqlite:PATH` or `postgres://…`.
    pub url: String,
    /// When it was added (Unix ms).
    pub added_ms: i64,
}

/// Where a logical partition's writes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum PlacementState {
    /// One shard.
    Stable,
    /// Moving: writes go to the current shard and to `to`. `since` is the first log offset
    /// the owning pipeline wrote twice (set by that pipeline when it starts).
    DualWrite {
        /// The target shard.
        to: u32,
        /// The first dual-written offset, once the owner acknowledged.
        since: Option<u64>,
    },
    /// Moving: the owner is to switch to `to` at its next batch boundary.
    Cutover {
        /// The target shard.
        to: u32,
    },
}

/// A logical partition's placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The shard that holds it (and answers reads).
    pub shard: u32,
    /// Bumped at every cutover; writes carry it, and a shard that handed the partition on
    /// refuses writes of older epochs.
    pub epoch: u64,
    /// Moving or not.
    #[serde(flatten)]
    pub state: PlacementState,
}

impl Placement {
    /// The shards a write must go to now.
    pub fn write_targets(&self) -> impl Iterator<Item = u32> {
        let extra = match self.state {
            PlacementState::DualWrite { to, .. } => Some(to),
            _ => None,
        };
        std::iter::once(self.shard).chain(extra)
    }
}

/// What a pause or a seek applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every partition of a group.
    Group(Group),
    /// One partition.
    Partition(LogPartition),
}

impl Target {
    /// Whether `p` is covered.
    pub fn covers(&self, p: LogPartition) -> bool {
        match self {
            Target::Group(g) => p.group == *g,
            Target::Partition(q) => *q == p,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Group(g) => write!(f, "{g}"),
            Target::Partition(p) => write!(f, "{p}"),
        }
    }
}

/// A pause set through the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// What is paused.
    pub target: Target,
    /// Why (shown in listener states and metrics).
    pub reason: String,
    /// Since when (Unix ms).
    pub since_ms: i64,
}

/// Where a seek goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeekTo {
    /// An offset (clamped to what the log holds).
    Offset(u64),
    /// The first record at or after a time (Unix ms).
    TimestampMs(i64),
    /// The oldest record.
    Beginning,
    /// The end (skip what is there).
    End,
}

/// A seek waiting for the owning pipelines to apply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seek {
    /// Its id.
    pub id: u64,
    /// Which partitions.
    pub target: Target,
    /// Where to.
    pub to: SeekTo,
    /// Partitions that applied it (it is removed when all did).
    pub applied: Vec<u32>,
}

/// A replay: re-apply a domain's events whose keys are in a range, from a time on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replay {
    /// Its id.
    pub id: u64,
    /// The group whose log is read.
    pub group: Group,
    /// Only this domain (all of the group's when `None`).
    pub domain: Option<Domain>,
    /// Keys from (inclusive; empty: from the first).
    pub key_from: String,
    /// Keys to (exclusive; empty: to the last).
    pub key_to: String,
    /// Events logged at or after this time (Unix ms; 0: from the beginning).
    pub since_ms: i64,
    /// Progress per partition.
    pub partitions: Vec<ReplayProgress>,
    /// When it was asked for.
    pub created_ms: i64,
}

/// A replay's progress in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayProgress {
    /// The partition.
    pub partition: u32,
    /// The next offset to read (set when the owner starts).
    pub next: Option<u64>,
    /// Where it stops (the log end when the owner started).
    pub end: Option<u64>,
    /// Events that matched.
    pub matched: u64,
    /// Rows written again that had been lost or were behind (changed the store).
    pub reapplied: u64,
    /// Rows already as stored (idempotent re-apply, no change).
    pub unchanged: u64,
    /// Done.
    pub done: bool,
}

impl Replay {
    /// Whether every partition finished.
    pub fn done(&self) -> bool {
        self.partitions.iter().all(|p| p.done)
    }

    /// Whether an event of `domain` with `key` is to be replayed.
    pub fn matches(&self, domain: Domain, key: &str) -> bool {
        self.domain.is_none_or(|d| d == domain)
            && (self.key_from.is_empty() || key >= self.key_from.as_str())
            && (self.key_to.is_empty() || key < self.key_to.as_str())
    }
}

/// The phases of a partition move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovePhase {
    /// Waiting for the owning pipeline to start writing to both shards.
    DualWrite,
    /// Copying the partition's rows to the target in key order.
    Backfill,
    /// Comparing bucket checksums; re-copying buckets that differ.
    Verify,
    /// Waiting for the owner to fence the source and switch, at a batch boundary.
    Cutover,
    /// Switched; the source's rows are deleted after the grace period.
    Cleanup,
    /// Finished.
    Done,
    /// Given up before the switch; the source is still the shard.
    RolledBack,
}

impl MovePhase {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            MovePhase::DualWrite => "dual_write",
            MovePhase::Backfill => "backfill",
            MovePhase::Verify => "verify",
            MovePhase::Cutover => "cutover",
            MovePhase::Cleanup => "cleanup",
            MovePhase::Done => "done",
            MovePhase::RolledBack => "rolled_back",
        }
    }

    /// Whether the move is over.
    pub fn is_final(self) -> bool {
        matches!(self, MovePhase::Done | MovePhase::RolledBack)
    }
}

/// A partition move and its progress (all a restarted process needs to resume it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveJob {
    /// Its id.
    pub id: u64,
    /// The partition.
    pub lp: Lp,
    /// From this shard.
    pub from: u32,
    /// To this shard.
    pub to: u32,
    /// Where it is.
    pub phase: MovePhase,
    /// Backfill cursor: the last key copied.
    pub cursor: Option<(Domain, String)>,
    /// Rows copied by the backfill (and re-copies).
    pub copied: u64,
    /// Rows the last verification compared.
    pub verified: u64,
    /// Buckets re-copied after a mismatch.
    pub recopied_buckets: u64,
    /// Verification rounds run.
    pub verify_rounds: u32,
    /// When the last verification began (rows changed after it are checked again at cutover).
    pub verify_started_ms: Option<i64>,
    /// Copy budget, rows per second.
    pub rows_per_s: u32,
    /// The write pause the cutover caused (ms), measured by the owner.
    pub pause_ms: Option<f64>,
    /// Where the pause went: the check of changed rows, the fence, the switch.
    #[serde(default)]
    pub pause_detail: Option<String>,
    /// When the switch happened.
    pub cutover_ms: Option<i64>,
    /// How long the source keeps its rows after the switch (ms).
    pub grace_ms: u64,
    /// Rows deleted from the source in cleanup.
    pub cleaned: u64,
    /// When the move was asked for.
    pub created_ms: i64,
    /// Last change.
    pub updated_ms: i64,
    /// The last problem met (the move retries; a rollback says why here).
    pub error: Option<String>,
}

/// The document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryState {
    /// The shards, by id (the index).
    pub shards: Vec<ShardSpec>,
    /// Logical partition `lp` starts on shard `lp % initial_shards`.
    pub initial_shards: u32,
    /// Placements that differ from the initial rule.
    pub overrides: Vec<(Lp, Placement)>,
    /// Pauses in force.
    pub pauses: Vec<Pause>,
    /// Pipelines of a group allowed to process a batch at once, per listener process.
    pub concurrency: BTreeMap<Group, u32>,
    /// Seeks not yet applied everywhere.
    pub seeks: Vec<Seek>,
    /// Replays (finished ones are kept until replaced, for their counts).
    pub replays: Vec<Replay>,
    /// Moves (finished ones are kept, for their figures).
    pub moves: Vec<MoveJob>,
    /// The next id for a seek, replay or move.
    pub next_id: u64,
}

impl DirectoryState {
    /// A new directory over `shards`.
    pub fn new(shards: Vec<ShardSpec>) -> Self {
        Self {
            initial_shards: u32::try_from(shards.len()).unwrap_or(1).max(1),
            shards,
            overrides: Vec::new(),
            pauses: Vec::new(),
            concurrency: BTreeMap::new(),
            seeks: Vec::new(),
            replays: Vec::new(),
            moves: Vec::new(),
            next_id: 1,
        }
    }

    /// The placement of `lp`.
    pub fn placement(&self, lp: Lp) -> Placement {
        self.overrides
            .iter()
            .find(|(l, _)| *l == lp)
            .map_or_else(|| self.initial(lp), |(_, p)| *p)
    }

    fn initial(&self, lp: Lp) -> Placement {
        Placement {
            shard: lp.lp % self.initial_shards,
            epoch: 0,
            state: PlacementState::Stable,
        }
    }

    /// Sets the placement of `lp` (dropping the override when it equals the initial rule).
    pub fn set_placement(&mut self, lp: Lp, placement: Placement) {
        self.overrides.retain(|(l, _)| *l != lp);
        if placement != self.initial(lp) {
            self.overrides.push((lp, placement));
            self.overrides.sort_by_key(|(l, _)| *l);
        }
    }

    /// The pause in force for `p`, if any (a partition pause before a group pause).
    pub fn pause_of(&self, p: LogPartition) -> Option<&Pause> {
        self.pauses
            .iter()
            .find(|x| x.target == Target::Partition(p))
            .or_else(|| self.pauses.iter().find(|x| x.target.covers(p)))
    }

    /// The move of `id`.
    pub fn move_job(&self, id: u64) -> Option<&MoveJob> {
        self.moves.iter().find(|m| m.id == id)
    }

    /// The move of `id`, to change.
    pub fn move_job_mut(&mut self, id: u64) -> Option<&mut MoveJob> {
        self.moves.iter_mut().find(|m| m.id == id)
    }

    /// The unfinished move of `lp`, if any.
    pub fn active_move(&self, lp: Lp) -> Option<&MoveJob> {
        self.moves
            .iter()
            .find(|m| m.lp == lp && !m.phase.is_final())
    }

    /// A fresh id.
    pub fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

/// A directory version as read: the document, its CAS version, and a placement table for
/// routing without searching.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The CAS version it was read at.
    pub version: u64,
    /// The document.
    pub state: DirectoryState,
    table: Vec<Placement>,
}

impl Snapshot {
    /// Builds the placement table.
    pub fn new(version: u64, state: DirectoryState) -> Self {
        let mut table = Vec::with_capacity(Group::ALL.len() * LOGICAL_PARTITIONS as usize);
        for group in Group::ALL {
            for lp in 0..LOGICAL_PARTITIONS {
                table.push(state.initial(Lp { group, lp }));
            }
        }
        for (lp, p) in &state.overrides {
            if let Some(slot) = table.get_mut(Self::slot(*lp)) {
                *slot = *p;
            }
        }
        Self {
            version,
            state,
            table,
        }
    }

    fn slot(lp: Lp) -> usize {
        let g = Group::ALL.iter().position(|g| *g == lp.group).unwrap_or(0);
        g * LOGICAL_PARTITIONS as usize + lp.lp as usize
    }

    /// The placement of `lp` (a table lookup).
    pub fn placement(&self, lp: Lp) -> Placement {
        self.table
            .get(Self::slot(lp))
            .copied()
            .unwrap_or_else(|| self.state.placement(lp))
    }
}

/// What can go wrong with the directory.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// Someone else changed the document since it was read (a lost compare-and-set).
    #[error("the directory changed since version {expected}")]
    Conflict {
        /// The version the change was based on.
        expected: u64,
    },
    /// Too many conflicts in a row.
    #[error("the directory kept changing: gave up after {0} attempts")]
    Contended(u32),
    /// The store failed.
    #[error("directory store: {0}")]
    Store(String),
    /// The document cannot be read.
    #[error("directory document is not valid: {0}")]
    Corrupt(String),
    /// The change asked for is not allowed now (the reason says why).
    #[error("{0}")]
    Rejected(String),
}

/// The document as stored (JSON: readable with `zkCli get` or `sqlite3`).
pub(crate) fn render(state: &DirectoryState) -> Result<Vec<u8>, DirectoryError> {
    serde_json::to_vec(state).map_err(|e| DirectoryError::Corrupt(e.to_string()))
}

/// The document read back.
pub(crate) fn parse(data: &[u8]) -> Result<DirectoryState, DirectoryError> {
    serde_json::from_slice(data).map_err(|e| DirectoryError::Corrupt(e.to_string()))
}

/// A store of the document: read with its version; write if the version is still the same.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The `meta` SQLite file.
    Sqlite(SqliteDirectory),
    /// One ZooKeeper znode.
    #[cfg(feature = "zookeeper")]
    ZooKeeper(zookeeper::ZkDirectory),
}

impl Backend {
    /// The document and its version (`None` before it is created).
    pub async fn load(&self) -> Result<Option<(u64, DirectoryState)>, DirectoryError> {
        match self {
            Backend::Sqlite(s) => s.load().await,
            #[cfg(feature = "zookeeper")]
            Backend::ZooKeeper(z) => z.load().await,
        }
    }

    /// Creates the document if there is none; returns what is stored either way.
    pub async fn create(
        &self,
        state: &DirectoryState,
    ) -> Result<(u64, DirectoryState), DirectoryError> {
        match self {
            Backend::Sqlite(s) => s.create(state).await,
            #[cfg(feature = "zookeeper")]
            Backend::ZooKeeper(z) => z.create(state).await,
        }
    }

    /// Writes `state` if the stored version is `expected`; returns the new version.
    pub async fn cas(&self, expected: u64, state: &DirectoryState) -> Result<u64, DirectoryError> {
        match self {
            Backend::Sqlite(s) => s.cas(expected, state).await,
            #[cfg(feature = "zookeeper")]
            Backend::ZooKeeper(z) => z.cas(expected, state).await,
        }
    }

    /// Waits until the stored version may differ from `seen` (a watch fired, or a poll
    /// interval passed).
    pub async fn changed(&self, seen: u64) {
        match self {
            Backend::Sqlite(s) => s.changed(seen).await,
            #[cfg(feature = "zookeeper")]
            Backend::ZooKeeper(z) => z.changed(seen).await,
        }
    }
}

/// The directory as a process uses it: the latest snapshot (kept current by a watch task)
/// and compare-and-set updates. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Directory {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    latest: watch::Sender<Arc<Snapshot>>,
}

impl Directory {
    /// Opens the directory in `backend`, creating it over `shards` when there is none, and
    /// starts the task that keeps the snapshot current (it ends with the last handle). Must
    /// be called inside a tokio runtime.
    pub async fn open(backend: Backend, shards: Vec<ShardSpec>) -> Result<Self, DirectoryError> {
        let (version, state) = match backend.load().await? {
            Some(found) => found,
            None => backend.create(&DirectoryState::new(shards)).await?,
        };
        let (latest, _) = watch::channel(Arc::new(Snapshot::new(version, state)));
        let inner = Arc::new(Inner { backend, latest });
        tokio::spawn(follow(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }

    /// The back end.
    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// The latest snapshot seen.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.inner.latest.borrow())
    }

    /// A receiver that sees every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.latest.subscribe()
    }

    /// Reads the stored document now (not the cached snapshot).
    pub async fn refresh(&self) -> Result<Arc<Snapshot>, DirectoryError> {
        let (version, state) = self
            .inner
            .backend
            .load()
            .await?
            .ok_or_else(|| DirectoryError::Store("the directory document is gone".into()))?;
        Ok(self.publish(Arc::new(Snapshot::new(version, state))))
    }

    /// Makes `snapshot` the latest unless a newer one is already there.
    fn publish(&self, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        self.inner.latest.send_if_modified(|cur| {
            if cur.version >= snapshot.version {
                false
            } else {
                *cur = Arc::clone(&snapshot);
                true
            }
        });
        snapshot
    }

    /// Applies `change` by compare-and-set: reads the stored document, lets `change` edit a
    /// copy (or refuse with an error), writes it if nobody wrote in between, and otherwise
    /// starts over (up to 50 times). Returns what `change` returned, and the new snapshot.
    pub async fn update<T>(
        &self,
        mut change: impl FnMut(&mut DirectoryState) -> Result<T, DirectoryError>,
    ) -> Result<(T, Arc<Snapshot>), DirectoryError> {
        const ATTEMPTS: u32 = 50;
        for attempt in 0..ATTEMPTS {
            let current = self.refresh().await?;
            let mut state = current.state.clone();
            let out = change(&mut state)?;
            if state == current.state {
                return Ok((out, current));
            }
            match self.try_update(&current, &state).await {
                Ok(snapshot) => return Ok((out, snapshot)),
                Err(DirectoryError::Conflict { .. }) => {
                    // Someone else won this round: back off a little, then redo the change
                    // on what they wrote.
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt % 8) * 3)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(DirectoryError::Contended(ATTEMPTS))
    }

    /// One compare-and-set against `based_on`, without retrying: `Conflict` when the
    /// document changed since it was read.
    pub async fn try_update(
        &self,
        based_on: &Snapshot,
        state: &DirectoryState,
    ) -> Result<Arc<Snapshot>, DirectoryError> {
        let version = self.inner.backend.cas(based_on.version, state).await?;
        Ok(self.publish(Arc::new(Snapshot::new(version, state.clone()))))
    }
}

/// Keeps the snapshot current until every handle is gone.
async fn follow(inner: std::sync::Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let seen = strong.latest.borrow().version;
        let backend = strong.backend.clone();
        drop(strong);
        backend.changed(seen).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        if let Ok(Some((version, state))) = backend.load().await {
            Directory { inner: strong }.publish(Arc::new(Snapshot::new(version, state)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_follow_the_initial_rule_until_overridden() {
        let shards = (0..4)
            .map(|i| ShardSpec {
                url: format!("sqlite:/tmp/{i}"),
                added_ms: 0,
            })
            .collect();
        let mut state = DirectoryState::new(shards);
        let lp = Lp {
            group: Group::Seller,
            lp: 10,
        };
        assert_eq!(state.placement(lp).shard, 2);
        let moved = Placement {
            shard: 3,
            epoch: 1,
            state: PlacementState::Stable,
        };
        state.set_placement(lp, moved);
        let snapshot = Snapshot::new(7, state.clone());
        assert_eq!(snapshot.placement(lp), moved);
        assert_eq!(
            snapshot
                .placement(Lp {
                    group: Group::Member,
                    lp: 10
                })
                .shard,
            2
        );
        let json = serde_json::to_string(&state).unwrap();
        let back: DirectoryState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        state.set_placement(lp, state.initial(lp));
        assert!(state.overrides.is_empty());
    }
}
