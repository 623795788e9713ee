//! The `Admin` service: the control API over arpc, for operators and for `datahub admin`.
//!
//! Writes (pause, resume, concurrency, seek, replay, add_shard, move_partition,
//! complete_move) are `fn`: they run on the server's bounded blocking pool, which waits for
//! the directory's compare-and-set (a ZooKeeper round trip, or the meta file's fsync). Reads
//! are `async fn`. Every change lives in the directory, so it reaches whichever listener
//! owns a partition, and survives restarts and rebalances.

pub mod cli;
pub mod messages;

use std::sync::Arc;
use std::time::Duration;

use arpc::Status;

use self::messages::{
    AddShard, Concurrency, EventId, GroupInfo, HotEntry, HotPartitions, HotRequest, Job, JobId,
    Lineage, ListenerStates, ListenerTarget, LogGroup, MoveJob, MoveRequest, MoveSuggestion,
    PartitionInfo, PartitionMap, PauseInfo, PlacementInfo, ReplayRequest, SeekPosition,
    SeekRequest, ShardInfo, StageTime,
};
use crate::control::{self, Control, ControlError};
use crate::directory::{self, PlacementState, SeekTo, Snapshot, Target};
use crate::hot::HotStats;
use crate::listener::Listener;
use crate::model::{Domain, Empty};
use crate::partition::{Group, LOGICAL_PARTITIONS, LogPartition, Lp};

/// Listener reports older than this are from processes that are gone.
const STALE_STATUS_MS: i64 = 10_000;

/// The `Admin` service of one hub process.
#[derive(Debug, Clone)]
pub struct AdminService {
    control: Control,
    hot: Arc<HotStats>,
    listener: Option<Arc<Listener>>,
    runtime: tokio::runtime::Handle,
}

impl AdminService {
    /// Admin over `control`, with this process's rates (`hot`) and listener, if it runs one.
    /// Must be called inside a tokio runtime (the writes run their directory updates on it).
    pub fn new(control: Control, hot: Arc<HotStats>, listener: Option<Arc<Listener>>) -> Self {
        Self {
            control,
            hot,
            listener,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Runs `f` to completion from a blocking-pool thread.
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }

    async fn states(&self) -> ListenerStates {
        let now = crate::clock::now_ms();
        let mut statuses: Vec<_> = self
            .control
            .listener_statuses()
            .await
            .into_iter()
            .filter(|s| now - s.at_ms < STALE_STATUS_MS)
            .collect();
        if let Some(own) = &self.listener {
            let own = own.status();
            statuses.retain(|s| s.listener != own.listener);
            statuses.push(own);
        }
        let mut out = ListenerStates::default();
        for s in &statuses {
            for p in &s.partitions {
                out.partitions.push(PartitionInfo {
                    listener: s.listener.clone(),
                    group: p.group.into(),
                    partition: p.partition,
                    committed: p.committed,
                    end: p.end,
                    lag: p.lag,
                    paused: p.paused.clone(),
                    backpressure: p.backpressure,
                    stalled: p.stalled.clone(),
                });
            }
            for g in &s.groups {
                out.groups.push(GroupInfo {
                    listener: s.listener.clone(),
                    group: g.group.into(),
                    concurrency: g.concurrency,
                    in_flight: g.in_flight,
                });
            }
        }
        out.partitions
            .sort_by_key(|p| (p.group as u8, p.partition, p.listener.clone()));
        out.pauses = self
            .control
            .directory()
            .snapshot()
            .state
            .pauses
            .iter()
            .map(|p| PauseInfo {
                target: p.target.to_string(),
                reason: p.reason.clone(),
                since_ms: p.since_ms,
            })
            .collect();
        out
    }

    async fn partition_map_now(&self) -> Result<PartitionMap, Status> {
        let snapshot = self.control.partition_map().await.map_err(status)?;
        Ok(partition_map(&snapshot))
    }

    async fn move_job(&self, id: u64) -> Result<MoveJob, Status> {
        match self.control.move_status(id).await.map_err(status)? {
            Some(job) => Ok(move_job(&job)),
            None => Err(Status::not_found(format!("no move {id}"))),
        }
    }
}

fn status(e: ControlError) -> Status {
    match e {
        ControlError::Invalid(m) => Status::invalid_argument(m),
        ControlError::Directory(directory::DirectoryError::Rejected(m)) => {
            Status::failed_precondition(m)
        }
        e => Status::unavailable(e.to_string()),
    }
}

fn group(g: LogGroup) -> Result<Group, Status> {
    match g {
        LogGroup::Member => Ok(Group::Member),
        LogGroup::Seller => Ok(Group::Seller),
        LogGroup::Unspecified => Err(Status::invalid_argument(
            "group is not set (member or seller)",
        )),
    }
}

impl From<Group> for LogGroup {
    fn from(g: Group) -> Self {
        match g {
            Group::Member => LogGroup::Member,
            Group::Seller => LogGroup::Seller,
        }
    }
}

fn target(t: &ListenerTarget) -> Result<Target, Status> {
    let group = group(t.group)?;
    Ok(match t.partition {
        Some(partition) => Target::Partition(LogPartition { group, partition }),
        None => Target::Group(group),
    })
}

fn lp(g: LogGroup, lp: u32) -> Result<Lp, Status> {
    if lp >= LOGICAL_PARTITIONS {
        return Err(Status::invalid_argument(format!(
            "logical partition {lp} is not below {LOGICAL_PARTITIONS}"
        )));
    }
    Ok(Lp {
        group: group(g)?,
        lp,
    })
}

/// A shard URL without its password.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn placement_state(state: &PlacementState) -> String {
    match state {
        PlacementState::Stable => "stable".into(),
        PlacementState::DualWrite { to, .. } => format!("dual_write → {to}"),
        PlacementState::Cutover { to } => format!("cutover → {to}"),
    }
}

fn partition_map(snapshot: &Snapshot) -> PartitionMap {
    let state = &snapshot.state;
    let mut counts = vec![0u32; state.shards.len()];
    for g in Group::ALL {
        for n in 0..LOGICAL_PARTITIONS {
            let shard = snapshot.placement(Lp { group: g, lp: n }).shard as usize;
            if let Some(c) = counts.get_mut(shard) {
                *c += 1;
            }
        }
    }
    PartitionMap {
        version: snapshot.version,
        initial_shards: state.initial_shards,
        shards: state
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| ShardInfo {
                id: u32::try_from(i).unwrap_or(u32::MAX),
                url: redacted(&s.url),
                partitions: counts[i],
            })
            .collect(),
        moved: state
            .overrides
            .iter()
            .map(|(lp, p)| PlacementInfo {
                group: lp.group.into(),
                lp: lp.lp,
                shard: p.shard,
                epoch: p.epoch,
                state: placement_state(&p.state),
            })
            .collect(),
    }
}

fn move_job(job: &directory::MoveJob) -> MoveJob {
    MoveJob {
        id: job.id,
        group: job.lp.group.into(),
        lp: job.lp.lp,
        from: job.from,
        to: job.to,
        phase: job.phase.name().to_owned(),
        rows: job.copied,
        verified: job.verified,
        pause_ms: job.pause_ms,
        estimated_copy_s: 0.0,
        error: job.error.clone(),
    }
}

fn replay_job(r: &directory::Replay) -> Job {
    Job {
        id: r.id,
        kind: "replay".into(),
        done: !r.partitions.is_empty() && r.partitions.iter().all(|p| p.done),
        matched: r.partitions.iter().map(|p| p.matched).sum(),
        reapplied: r.partitions.iter().map(|p| p.reapplied).sum(),
        unchanged: r.partitions.iter().map(|p| p.unchanged).sum(),
    }
}

impl crate::service::Admin for AdminService {
    async fn listeners(&self, _: Empty) -> Result<ListenerStates, Status> {
        Ok(self.states().await)
    }

    fn pause(&self, request: ListenerTarget) -> Result<ListenerStates, Status> {
        let t = target(&request)?;
        self.block_on(async {
            self.control
                .pause(t, &request.reason)
                .await
                .map_err(status)?;
            Ok(self.states().await)
        })
    }

    fn resume(&self, request: ListenerTarget) -> Result<ListenerStates, Status> {
        let t = target(&request)?;
        self.block_on(async {
            self.control.resume(t).await.map_err(status)?;
            Ok(self.states().await)
        })
    }

    fn set_concurrency(&self, request: Concurrency) -> Result<ListenerStates, Status> {
        let g = group(request.group)?;
        self.block_on(async {
            self.control
                .set_concurrency(g, request.concurrency)
                .await
                .map_err(status)?;
            Ok(self.states().await)
        })
    }

    fn seek(&self, request: SeekRequest) -> Result<Job, Status> {
        let t = target(&request.target)?;
        let to = match request.to {
            SeekPosition::Beginning => SeekTo::Beginning,
            SeekPosition::End => SeekTo::End,
            SeekPosition::Offset(o) => SeekTo::Offset(o),
            SeekPosition::TimestampMs(ms) => SeekTo::TimestampMs(ms),
        };
        let id = self.block_on(self.control.seek(t, to)).map_err(status)?;
        Ok(Job {
            id,
            kind: "seek".into(),
            done: self.control.seek_done(id),
            ..Job::default()
        })
    }

    fn replay(&self, request: ReplayRequest) -> Result<Job, Status> {
        let replay = control::ReplayRequest {
            group: group(request.group)?,
            domain: (request.domain != Domain::Unspecified).then_some(request.domain),
            key_from: request.key_from,
            key_to: request.key_to,
            since_ms: request.since_ms,
        };
        let id = self.block_on(self.control.replay(replay)).map_err(status)?;
        Ok(self.control.replay_status(id).map_or_else(
            || Job {
                id,
                kind: "replay".into(),
                ..Job::default()
            },
            |r| replay_job(&r),
        ))
    }

    async fn job(&self, request: JobId) -> Result<Job, Status> {
        let snapshot = self
            .control
            .directory()
            .refresh()
            .await
            .map_err(|e| status(e.into()))?;
        if let Some(r) = snapshot.state.replays.iter().find(|r| r.id == request.id) {
            return Ok(replay_job(r));
        }
        if snapshot.state.seeks.iter().any(|s| s.id == request.id) {
            return Ok(Job {
                id: request.id,
                kind: "seek".into(),
                ..Job::default()
            });
        }
        if snapshot.state.move_job(request.id).is_some() {
            return Err(Status::not_found(format!(
                "{} is a move: ask move_status",
                request.id
            )));
        }
        if request.id > 0 && request.id < snapshot.state.next_id {
            // Seeks leave the directory once every owner applied them.
            return Ok(Job {
                id: request.id,
                kind: "seek".into(),
                done: true,
                ..Job::default()
            });
        }
        Err(Status::not_found(format!("no job {}", request.id)))
    }

    async fn partition_map(&self, _: Empty) -> Result<PartitionMap, Status> {
        self.partition_map_now().await
    }

    async fn hot_partitions(&self, request: HotRequest) -> Result<HotPartitions, Status> {
        let window = Duration::from_secs(u64::from(match request.window_s {
            0 => 10,
            s => s.min(60),
        }));
        let top = match request.top {
            0 => 10,
            n => n.min(100) as usize,
        };
        let snapshot = self.control.directory().snapshot();
        let report = self.hot.report(&snapshot, window, top);
        Ok(HotPartitions {
            window_s: report.window_s,
            entries: report
                .hottest
                .iter()
                .map(|r| HotEntry {
                    group: r.lp.group.into(),
                    lp: r.lp.lp,
                    writes_per_s: r.writes_per_s,
                    share: r.share,
                })
                .collect(),
            shard_load: report.shard_load,
            skew: report.skew,
            suggestion: report.suggestion.map(|s| MoveSuggestion {
                group: s.lp.group.into(),
                lp: s.lp.lp,
                from: s.from,
                to: s.to,
                max_load_now: s.max_load_now,
                max_load_after: s.max_load_after,
            }),
        })
    }

    fn add_shard(&self, request: AddShard) -> Result<PartitionMap, Status> {
        self.block_on(async {
            self.control.add_shard(&request.url).await.map_err(status)?;
            self.partition_map_now().await
        })
    }

    fn move_partition(&self, request: MoveRequest) -> Result<MoveJob, Status> {
        let mut m = control::MoveRequest::new(lp(request.group, request.lp)?, request.to_shard);
        m.dry_run = request.dry_run;
        m.rows_per_s = request.rows_per_s;
        if request.grace_ms > 0 {
            m.grace_ms = request.grace_ms;
        }
        self.block_on(async {
            if m.dry_run {
                let (_, rates) = self.hot.rates(Duration::from_secs(10));
                let writes = rates
                    .iter()
                    .find(|r| r.lp == m.lp)
                    .map_or(0.0, |r| r.writes_per_s);
                let plan = self.control.plan_move(&m, writes).await.map_err(status)?;
                return Ok(MoveJob {
                    group: plan.lp.group.into(),
                    lp: plan.lp.lp,
                    from: plan.from,
                    to: plan.to,
                    phase: "planned".into(),
                    rows: plan.rows,
                    estimated_copy_s: plan.estimated_copy_s,
                    ..MoveJob::default()
                });
            }
            let job = self.control.move_partition(&m).await.map_err(status)?;
            Ok(move_job(&job))
        })
    }

    async fn move_status(&self, request: JobId) -> Result<MoveJob, Status> {
        self.move_job(request.id).await
    }

    fn complete_move(&self, request: JobId) -> Result<MoveJob, Status> {
        self.block_on(async {
            self.control
                .complete_move(request.id)
                .await
                .map_err(status)?;
            self.move_job(request.id).await
        })
    }

    async fn lineage(&self, request: EventId) -> Result<Lineage, Status> {
        let Some(entry) = self
            .listener
            .as_ref()
            .and_then(|l| l.lineage().get(&request.event_id))
        else {
            return Ok(Lineage {
                event_id: request.event_id,
                ..Lineage::default()
            });
        };
        Ok(Lineage {
            event_id: request.event_id,
            found: true,
            group: entry.partition.group.into(),
            log_partition: entry.partition.partition,
            offset: entry.offset,
            stages: entry
                .stages
                .iter()
                .map(|(stage, at_ms)| StageTime {
                    stage: (*stage).to_owned(),
                    at_ms: *at_ms,
                })
                .collect(),
            shard: entry.shard,
            version: entry.version,
            outcome: entry.outcome.to_owned(),
            trace_id: entry.trace_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn shard_urls_lose_their_password() {
        assert_eq!(
            redacted("postgres://hub:secret@127.0.0.1:5432/shard0"),
            "postgres://hub@127.0.0.1:5432/shard0"
        );
        assert_eq!(redacted("sqlite:/tmp/a@b.sqlite"), "sqlite:/tmp/a@b.sqlite");
    }
}
