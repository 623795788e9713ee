//! The runtime control API: pause, resume, concurrency, seek, replay, the partition map,
//! shards, and partition moves. Part 2 serves it as the `Admin` service; the demo and the
//! tests call it directly.
//!
//! Every call is a compare-and-set edit of the [directory](crate::directory), which every hub
//! process watches, so a call made in one process takes effect in the process that owns the
//! partition, and survives restarts. A call returns once its intent is recorded; the
//! pipelines apply it at their next batch boundary (their status shows when).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::now_ms;
use crate::directory::{
    Directory, DirectoryError, MoveJob, MovePhase, Pause, Placement, PlacementState, Replay,
    ReplayProgress, Seek, SeekTo, ShardSpec, Snapshot, Target,
};
use crate::listener::status::ListenerStatus;
use crate::meta::MetaDb;
use crate::model::Domain;
use crate::partition::{Group, Lp};
use crate::store::{ShardSet, StoreError};

/// What can go wrong with a control call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The directory refused or failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// A shard failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is not valid (the message says why).
    #[error("{0}")]
    Invalid(String),
}

/// A request to move a logical partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveRequest {
    /// The partition.
    pub lp: Lp,
    /// The target shard.
    pub to: u32,
    /// Only plan.
    pub dry_run: bool,
    /// Backfill budget in rows per second (0: 20,000).
    pub rows_per_s: u32,
    /// How long the source keeps the rows after the switch (ms), for a rollback by moving
    /// back; `complete_move` ends it early.
    pub grace_ms: u64,
}

impl MoveRequest {
    /// A move of `lp` to `to` with default budget and a 10 s grace period.
    pub fn new(lp: Lp, to: u32) -> Self {
        Self {
            lp,
            to,
            dry_run: false,
            rows_per_s: 0,
            grace_ms: 10_000,
        }
    }
}

/// What a dry run says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovePlan {
    /// The partition.
    pub lp: Lp,
    /// Where it is.
    pub from: u32,
    /// Where it would go.
    pub to: u32,
    /// Rows to copy.
    pub rows: u64,
    /// Copy time at the budget (seconds).
    pub estimated_copy_s: f64,
    /// Its write rate now (rows/s, from this process's counters).
    pub writes_per_s: f64,
}

/// A replay request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// The group whose log is read.
    pub group: Group,
    /// Only this domain.
    pub domain: Option<Domain>,
    /// Keys from (inclusive; empty: all).
    pub key_from: String,
    /// Keys to (exclusive; empty: all).
    pub key_to: String,
    /// Events logged at or after (Unix ms; 0: from the beginning).
    pub since_ms: i64,
}

/// The control API.
#[derive(Debug, Clone)]
pub struct Control {
    directory: Directory,
    shards: ShardSet,
    partitions: u32,
    meta: Option<MetaDb>,
}

impl Control {
    /// Control over `directory` (and its shards) for logs of `partitions` per group; `meta`
    /// gives the listener statuses of processes sharing that file.
    pub fn new(
        directory: Directory,
        shards: ShardSet,
        partitions: u32,
        meta: Option<MetaDb>,
    ) -> Self {
        Self {
            directory,
            shards,
            partitions,
            meta,
        }
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    fn check_target(&self, target: Target) -> Result<(), ControlError> {
        if let Target::Partition(p) = target
            && p.partition >= self.partitions
        {
            return Err(ControlError::Invalid(format!(
                "partition {p} does not exist: the log has {} partitions per group",
                self.partitions
            )));
        }
        Ok(())
    }

    /// Pauses a partition or a whole group (persisted; re-applied after restarts and
    /// rebalances).
    pub async fn pause(&self, target: Target, reason: &str) -> Result<(), ControlError> {
        self.check_target(target)?;
        let reason = if reason.is_empty() {
            "paused by admin"
        } else {
            reason
        };
        self.directory
            .update(|state| {
                state.pauses.retain(|p| p.target != target);
                state.pauses.push(Pause {
                    target,
                    reason: reason.to_owned(),
                    since_ms: now_ms(),
                });
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Resumes: a group resume lifts the group's pause and every pause of its partitions; a
    /// partition resume lifts that partition's pause (a group pause stays).
    pub async fn resume(&self, target: Target) -> Result<(), ControlError> {
        self.check_target(target)?;
        self.directory
            .update(|state| {
                state.pauses.retain(|p| match target {
                    Target::Group(g) => match p.target {
                        Target::Group(h) => h != g,
                        Target::Partition(q) => q.group != g,
                    },
                    Target::Partition(_) => p.target != target,
                });
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Sets how many of a group's batches each listener process writes at once (1 to the
    /// partition count), without a restart.
    pub async fn set_concurrency(&self, group: Group, n: u32) -> Result<(), ControlError> {
        if n == 0 || n > self.partitions {
            return Err(ControlError::Invalid(format!(
                "concurrency {n} for {group}: must be 1 to {} (the partitions per group)",
                self.partitions
            )));
        }
        self.directory
            .update(|state| {
                state.concurrency.insert(group, n);
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Moves partitions' positions (each owner drains, seeks and commits the new position).
    /// Returns the seek's id.
    pub async fn seek(&self, target: Target, to: SeekTo) -> Result<u64, ControlError> {
        self.check_target(target)?;
        let (id, _) = self
            .directory
            .update(|state| {
                let id = state.take_id();
                state.seeks.push(Seek {
                    id,
                    target,
                    to,
                    applied: Vec::new(),
                });
                Ok(id)
            })
            .await?;
        Ok(id)
    }

    /// Whether seek `id` was applied everywhere.
    pub fn seek_done(&self, id: u64) -> bool {
        !self
            .directory
            .snapshot()
            .state
            .seeks
            .iter()
            .any(|s| s.id == id)
    }

    /// Starts a replay; returns its id.
    pub async fn replay(&self, request: ReplayRequest) -> Result<u64, ControlError> {
        if let Some(d) = request.domain
            && Group::of_domain(d) != Some(request.group)
        {
            return Err(ControlError::Invalid(format!(
                "domain {d} is not in the {} group",
                request.group
            )));
        }
        let partitions = self.partitions;
        let (id, _) = self
            .directory
            .update(|state| {
                let id = state.take_id();
                state.replays.retain(|r| !r.done());
                state.replays.push(Replay {
                    id,
                    group: request.group,
                    domain: request.domain,
                    key_from: request.key_from.clone(),
                    key_to: request.key_to.clone(),
                    since_ms: request.since_ms,
                    partitions: (0..partitions)
                        .map(|partition| ReplayProgress {
                            partition,
                            next: None,
                            end: None,
                            matched: 0,
                            reapplied: 0,
                            unchanged: 0,
                            done: false,
                        })
                        .collect(),
                    created_ms: now_ms(),
                });
                Ok(id)
            })
            .await?;
        Ok(id)
    }

    /// A replay's progress.
    pub fn replay_status(&self, id: u64) -> Option<Replay> {
        self.directory
            .snapshot()
            .state
            .replays
            .iter()
            .find(|r| r.id == id)
            .cloned()
    }

    /// The directory as it is now.
    pub async fn partition_map(&self) -> Result<std::sync::Arc<Snapshot>, ControlError> {
        Ok(self.directory.refresh().await?)
    }

    /// Adds a shard (its schema is created on first use); returns its id.
    pub async fn add_shard(&self, url: &str) -> Result<u32, ControlError> {
        if !(url.starts_with("sqlite:") || url.starts_with("postgres")) {
            return Err(ControlError::Invalid(format!(
                "shard URL `{url}`: expected sqlite:PATH or postgres://…"
            )));
        }
        let (id, _) = self
            .directory
            .update(|state| {
                if let Some(i) = state.shards.iter().position(|s| s.url == url) {
                    return Ok(u32::try_from(i).unwrap_or(0));
                }
                state.shards.push(ShardSpec {
                    url: url.to_owned(),
                    added_ms: now_ms(),
                });
                Ok(u32::try_from(state.shards.len() - 1).unwrap_or(0))
            })
            .await?;
        // Open it now, so a bad URL shows here rather than in a pipeline.
        self.shards.get(id).await?;
        Ok(id)
    }

    /// Plans a move (counts the rows, estimates the copy).
    pub async fn plan_move(
        &self,
        request: &MoveRequest,
        writes_per_s: f64,
    ) -> Result<MovePlan, ControlError> {
        let snapshot = self.directory.refresh().await?;
        let placement = snapshot.placement(request.lp);
        self.validate_move(&snapshot, request, placement)?;
        let rows = self
            .shards
            .get(placement.shard)
            .await?
            .count(request.lp)
            .await?;
        let budget = f64::from(if request.rows_per_s == 0 {
            20_000
        } else {
            request.rows_per_s
        });
        #[allow(clippy::cast_precision_loss)]
        Ok(MovePlan {
            lp: request.lp,
            from: placement.shard,
            to: request.to,
            rows,
            estimated_copy_s: rows as f64 / budget,
            writes_per_s,
        })
    }

    fn validate_move(
        &self,
        snapshot: &Snapshot,
        request: &MoveRequest,
        placement: Placement,
    ) -> Result<(), ControlError> {
        if request.lp.lp >= crate::partition::LOGICAL_PARTITIONS {
            return Err(ControlError::Invalid(format!(
                "no logical partition {}",
                request.lp
            )));
        }
        if request.to as usize >= snapshot.state.shards.len() {
            return Err(ControlError::Invalid(format!(
                "no shard {} (there are {}; add one first)",
                request.to,
                snapshot.state.shards.len()
            )));
        }
        if let Some(job) = snapshot.state.active_move(request.lp) {
            return Err(ControlError::Invalid(format!(
                "{} is already moving (move {}, {})",
                request.lp,
                job.id,
                job.phase.name()
            )));
        }
        if placement.shard == request.to {
            return Err(ControlError::Invalid(format!(
                "{} is already on shard {}",
                request.lp, request.to
            )));
        }
        Ok(())
    }

    /// Starts moving a partition (dual-write, backfill, verify, cutover, cleanup: the owning
    /// process carries the steps out). Exactly one of two racing calls for the same partition
    /// wins; the other is told it is already moving.
    pub async fn move_partition(&self, request: &MoveRequest) -> Result<MoveJob, ControlError> {
        if request.dry_run {
            return Err(ControlError::Invalid("a dry run is `plan_move`".into()));
        }
        let mut refused = None;
        let (job, _) = self
            .directory
            .update(|state| {
                let snapshot = Snapshot::new(0, state.clone());
                let placement = snapshot.placement(request.lp);
                if let Err(e) = self.validate_move(&snapshot, request, placement) {
                    refused = Some(e);
                    return Ok(None);
                }
                let now = now_ms();
                let job = MoveJob {
                    id: state.take_id(),
                    lp: request.lp,
                    from: placement.shard,
                    to: request.to,
                    phase: MovePhase::DualWrite,
                    cursor: None,
                    copied: 0,
                    verified: 0,
                    recopied_buckets: 0,
                    verify_rounds: 0,
                    verify_started_ms: None,
                    rows_per_s: if request.rows_per_s == 0 {
                        20_000
                    } else {
                        request.rows_per_s
                    },
                    pause_ms: None,
                    pause_detail: None,
                    cutover_ms: None,
                    grace_ms: request.grace_ms,
                    cleaned: 0,
                    created_ms: now,
                    updated_ms: now,
                    error: None,
                };
                state.set_placement(
                    request.lp,
                    Placement {
                        shard: placement.shard,
                        epoch: placement.epoch,
                        state: PlacementState::DualWrite {
                            to: request.to,
                            since: None,
                        },
                    },
                );
                state.moves.push(job.clone());
                Ok(Some(job))
            })
            .await?;
        match (job, refused) {
            (Some(job), _) => Ok(job),
            (None, Some(e)) => Err(e),
            (None, None) => Err(ControlError::Invalid("move refused".into())),
        }
    }

    /// A move's state.
    pub async fn move_status(&self, id: u64) -> Result<Option<MoveJob>, ControlError> {
        Ok(self.directory.refresh().await?.state.move_job(id).cloned())
    }

    /// Ends a switched move's grace period now (the source's rows are deleted next).
    pub async fn complete_move(&self, id: u64) -> Result<(), ControlError> {
        self.directory
            .update(|state| {
                let job = state
                    .move_job_mut(id)
                    .ok_or_else(|| DirectoryError::Rejected(format!("no move {id}")))?;
                match job.phase {
                    MovePhase::Cleanup | MovePhase::Done => {
                        job.grace_ms = 0;
                        Ok(())
                    }
                    phase => Err(DirectoryError::Rejected(format!(
                        "move {id} is in {}: only a switched move can be completed",
                        phase.name()
                    ))),
                }
            })
            .await?;
        Ok(())
    }

    /// Gives a move up before its switch: the source stays the shard, and the rows copied to
    /// the target are deleted.
    pub async fn abort_move(&self, id: u64) -> Result<(), ControlError> {
        let (job, _) = self
            .directory
            .update(|state| {
                let job = state
                    .move_job(id)
                    .cloned()
                    .ok_or_else(|| DirectoryError::Rejected(format!("no move {id}")))?;
                if !matches!(
                    job.phase,
                    MovePhase::DualWrite | MovePhase::Backfill | MovePhase::Verify
                ) {
                    return Err(DirectoryError::Rejected(format!(
                        "move {id} is in {}: it can only be given up before the cutover",
                        job.phase.name()
                    )));
                }
                let placement = state.placement(job.lp);
                state.set_placement(
                    job.lp,
                    Placement {
                        shard: job.from,
                        epoch: placement.epoch,
                        state: PlacementState::Stable,
                    },
                );
                if let Some(j) = state.move_job_mut(id) {
                    j.phase = MovePhase::RolledBack;
                    j.error = Some("given up by admin".into());
                    j.updated_ms = now_ms();
                }
                Ok(job)
            })
            .await?;
        let target = self.shards.get(job.to).await?;
        while target.delete_chunk(job.lp, 5000).await? > 0 {}
        Ok(())
    }

    /// Waits until move `id` is done or rolled back, up to `timeout`.
    pub async fn wait_move(&self, id: u64, timeout: Duration) -> Result<MoveJob, ControlError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(job) = self.move_status(id).await?
                && job.phase.is_final()
            {
                return Ok(job);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControlError::Invalid(format!(
                    "move {id} not finished within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The statuses the listeners last reported: every listener of the hub when the
    /// directory is in ZooKeeper (each reports under it), else those sharing the meta file.
    pub async fn listener_statuses(&self) -> Vec<ListenerStatus> {
        #[cfg(feature = "zookeeper")]
        if let crate::directory::Backend::ZooKeeper(zk) = self.directory.backend() {
            return zk
                .statuses()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter_map(|doc| serde_json::from_slice(&doc).ok())
                .collect();
        }
        let Some(meta) = &self.meta else {
            return Vec::new();
        };
        meta.statuses()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, doc, _)| serde_json::from_str(&doc).ok())
            .collect()
    }
}
