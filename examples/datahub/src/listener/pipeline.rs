//! One pipeline per log partition: a fetch task that also carries out control (seeks, pauses,
//! replays, control ticks for moves), then one task per stage, joined by bounded channels.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{self, Receiver, Sender, error::TrySendError};
use tokio::task::JoinHandle;

use super::Shared;
use super::source::{Offsets, Source};
use super::status::PartitionStatus;
use crate::dag::{Batch, BatchKind, commit, stages, write};
use crate::directory::{PlacementState, Replay, Snapshot, Target};
use crate::partition::LogPartition;

/// What the stages of one pipeline share.
#[derive(Debug)]
pub struct PipelineCtx {
    /// The listener's shared parts.
    pub(crate) shared: Arc<Shared>,
    /// The partition.
    pub partition: LogPartition,
    /// Its status.
    pub status: Arc<PartitionStatus>,
    /// Where its position is committed.
    pub offsets: Offsets,
}

/// A running pipeline.
#[derive(Debug)]
pub struct Pipeline {
    tasks: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Stops every stage now (uncommitted batches are read again by the next owner).
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Starts the pipeline of `ctx.partition`, reading `source`.
pub(crate) fn start(ctx: Arc<PipelineCtx>, source: Source) -> Pipeline {
    let cap = ctx.shared.config.channel_batches.max(1);
    let (to_decode, decode_rx) = mpsc::channel(cap);
    let (to_dedupe, dedupe_rx) = mpsc::channel(cap);
    let (to_enrich, enrich_rx) = mpsc::channel(cap);
    let (to_project, project_rx) = mpsc::channel(cap);
    let (to_route, route_rx) = mpsc::channel(cap);
    let (to_write, write_rx) = mpsc::channel(cap);
    let (to_commit, commit_rx) = mpsc::channel(cap);
    let mut dedupe = stages::Dedupe::new(ctx.shared.config.dedupe_window);
    let route_ctx = Arc::clone(&ctx);
    let tasks = vec![
        tokio::spawn(fetch(Arc::clone(&ctx), source, to_decode)),
        stage(decode_rx, to_dedupe, stages::decode_validate),
        stage(dedupe_rx, to_enrich, move |b: &mut Batch| {
            if b.reset_dedupe {
                dedupe.clear();
            }
            dedupe.apply(b);
        }),
        stage(enrich_rx, to_project, stages::enrich),
        stage(project_rx, to_route, stages::project),
        stage(route_rx, to_write, move |b: &mut Batch| {
            stages::route(b, &route_ctx.shared.directory.snapshot());
        }),
        tokio::spawn(write_stage(Arc::clone(&ctx), write_rx, to_commit)),
        tokio::spawn(commit_stage(ctx, commit_rx)),
    ];
    Pipeline { tasks }
}

fn stage(
    mut rx: Receiver<Batch>,
    tx: Sender<Batch>,
    mut f: impl FnMut(&mut Batch) + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(mut batch) = rx.recv().await {
            f(&mut batch);
            if tx.send(batch).await.is_err() {
                return;
            }
        }
    })
}

async fn write_stage(ctx: Arc<PipelineCtx>, mut rx: Receiver<Batch>, tx: Sender<Batch>) {
    while let Some(mut batch) = rx.recv().await {
        let gate = ctx.shared.gate(ctx.partition.group);
        let permit = if batch.kind == BatchKind::Tick {
            None
        } else {
            gate.enter().await
        };
        write::write(&ctx, &mut batch).await;
        drop(permit);
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}

async fn commit_stage(ctx: Arc<PipelineCtx>, mut rx: Receiver<Batch>) {
    while let Some(batch) = rx.recv().await {
        commit::commit(&ctx, batch).await;
    }
}

/// Whether a move of a partition this pipeline owns waits for a batch boundary.
fn needs_boundary(ctx: &PipelineCtx, snapshot: &Snapshot) -> bool {
    snapshot.state.overrides.iter().any(|(lp, placement)| {
        lp.group == ctx.partition.group
            && lp.lp % ctx.shared.partitions == ctx.partition.partition
            && matches!(
                placement.state,
                PlacementState::DualWrite { since: None, .. } | PlacementState::Cutover { .. }
            )
    })
}

struct ReplayCursor {
    id: u64,
    source: Source,
    end: u64,
}

/// The fetch task: control first (seeks, ticks, pauses), then a replay batch if one is
/// running, then live records.
async fn fetch(ctx: Arc<PipelineCtx>, mut source: Source, tx: Sender<Batch>) {
    let p = ctx.partition;
    let config = &ctx.shared.config;
    let mut directory = ctx.shared.directory.subscribe();
    let mut ticked_version = 0;
    let mut sent_end = source.position();
    let mut replay: Option<ReplayCursor> = None;
    loop {
        let snapshot = ctx.shared.directory.snapshot();
        ctx.status.set_end(source.end());

        if let Some(seek) = snapshot
            .state
            .seeks
            .iter()
            .find(|s| s.target.covers(p) && !s.applied.contains(&p.partition))
            .cloned()
        {
            drain(&ctx, sent_end).await;
            match apply_seek(&ctx, &mut source, seek.id, seek.to).await {
                Ok(at) => {
                    sent_end = at;
                    let mut reset = Batch::new(p, BatchKind::Tick, at, at);
                    reset.reset_dedupe = true;
                    if tx.send(reset).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    ctx.status.set_stalled(Some(format!("seek: {e}")));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            continue;
        }

        if needs_boundary(&ctx, &snapshot) && snapshot.version != ticked_version {
            ticked_version = snapshot.version;
            let tick = Batch::new(p, BatchKind::Tick, sent_end, sent_end);
            if tx.send(tick).await.is_err() {
                return;
            }
        }

        if let Some(pause) = snapshot.state.pause_of(p) {
            ctx.status.set_paused(Some(pause.reason.clone()));
            tokio::select! {
                _ = directory.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            continue;
        }
        ctx.status.set_paused(None);

        let active_replay = snapshot
            .state
            .replays
            .iter()
            .find(|r| {
                r.group == p.group
                    && r.partitions
                        .iter()
                        .any(|x| x.partition == p.partition && !x.done)
            })
            .cloned();
        if let Some(r) = active_replay {
            match replay_batch(&ctx, &source, &mut replay, r).await {
                Ok(Some(batch)) => {
                    if !send(&ctx, &source, &tx, batch).await {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    ctx.status.set_stalled(Some(format!("replay: {e}")));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        } else {
            replay = None;
        }

        let records = match source
            .fetch(
                config.batch_records,
                config.linger,
                replay.is_none(),
                &mut directory,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                ctx.status.set_stalled(Some(format!("log: {e}")));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            if replay.is_some() {
                // Replaying, and the live fetch did not wait: do not spin.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            continue;
        };
        let mut batch = Batch::new(p, BatchKind::Live, first.offset, last.offset + 1);
        sent_end = batch.end_offset;
        batch.raw = records;
        if !send(&ctx, &source, &tx, batch).await {
            return;
        }
    }
}

/// Sends a batch into the pipeline; when the channel is full, fetching holds (that is the
/// backpressure) until there is room. False when the pipeline is gone.
async fn send(ctx: &PipelineCtx, source: &Source, tx: &Sender<Batch>, batch: Batch) -> bool {
    match tx.try_send(batch) {
        Ok(()) => true,
        Err(TrySendError::Closed(_)) => false,
        Err(TrySendError::Full(batch)) => {
            ctx.status.set_backpressure(true);
            source.hold(true);
            let sent = loop {
                tokio::select! {
                    permit = tx.reserve() => match permit {
                        Ok(permit) => {
                            permit.send(batch);
                            break true;
                        }
                        Err(_) => break false,
                    },
                    // While held back, keep the reported log end (and so the lag) current.
                    () = tokio::time::sleep(Duration::from_millis(250)) => {
                        ctx.status.set_end(source.end());
                    }
                }
            };
            source.hold(false);
            ctx.status.set_backpressure(false);
            sent
        }
    }
}

/// Waits until every live batch sent (up to `sent_end`) is committed.
async fn drain(ctx: &PipelineCtx, sent_end: u64) {
    let mut committed = ctx.status.watch_committed();
    while *committed.borrow_and_update() < sent_end {
        if committed.changed().await.is_err() {
            return;
        }
    }
}

/// Moves the partition to where the seek says, records that as the committed position, and
/// marks the seek applied for this partition (removing it once every partition applied it).
async fn apply_seek(
    ctx: &PipelineCtx,
    source: &mut Source,
    id: u64,
    to: crate::directory::SeekTo,
) -> Result<u64, String> {
    let p = ctx.partition;
    let at = source.resolve(to).await.map_err(|e| e.to_string())?;
    source.seek(at).await.map_err(|e| e.to_string())?;
    ctx.offsets.commit(p, at).await?;
    ctx.status.set_committed(at);
    ctx.shared.applied.reset(p, at);
    let partitions = ctx.shared.partitions;
    ctx.shared
        .directory
        .update(|state| {
            if let Some(seek) = state.seeks.iter_mut().find(|s| s.id == id) {
                if !seek.applied.contains(&p.partition) {
                    seek.applied.push(p.partition);
                }
                let needed = match seek.target {
                    Target::Group(_) => partitions as usize,
                    Target::Partition(_) => 1,
                };
                if seek.applied.len() >= needed {
                    state.seeks.retain(|s| s.id != id);
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(at)
}

/// The next batch of a replay in this partition, starting or resuming its reader; `None` when
/// this partition's part is finished (and marked so).
async fn replay_batch(
    ctx: &PipelineCtx,
    source: &Source,
    cursor: &mut Option<ReplayCursor>,
    replay: Replay,
) -> Result<Option<Batch>, String> {
    let p = ctx.partition;
    let progress = replay
        .partitions
        .iter()
        .find(|x| x.partition == p.partition)
        .cloned()
        .ok_or("no progress entry")?;
    if cursor.as_ref().is_none_or(|c| c.id != replay.id) {
        let (next, end) = match (progress.next, progress.end) {
            (Some(n), Some(e)) => (n, e),
            _ => {
                let start = if replay.since_ms > 0 {
                    crate::directory::SeekTo::TimestampMs(replay.since_ms)
                } else {
                    crate::directory::SeekTo::Beginning
                };
                let next = source.resolve(start).await.map_err(|e| e.to_string())?;
                let end = source.end();
                let id = replay.id;
                ctx.shared
                    .directory
                    .update(|state| {
                        if let Some(x) =
                            state.replays.iter_mut().find(|r| r.id == id).and_then(|r| {
                                r.partitions.iter_mut().find(|x| x.partition == p.partition)
                            })
                            && x.next.is_none()
                        {
                            x.next = Some(next);
                            x.end = Some(end);
                            x.done = next >= end;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                (next, end)
            }
        };
        *cursor = Some(ReplayCursor {
            id: replay.id,
            source: source
                .replay_reader(next)
                .await
                .map_err(|e| e.to_string())?,
            end,
        });
    }
    let Some(c) = cursor.as_mut() else {
        return Ok(None);
    };
    let start = c.source.position();
    if start >= c.end {
        return Ok(None);
    }
    let mut never = ctx.shared.directory.subscribe();
    let mut records = c
        .source
        .fetch(
            ctx.shared.config.batch_records,
            Duration::ZERO,
            false,
            &mut never,
        )
        .await
        .map_err(|e| e.to_string())?;
    records.retain(|r| r.offset < c.end);
    let end = records.last().map_or(c.end, |r| r.offset + 1).min(c.end);
    if records.is_empty() {
        // Nothing more below the end: this part is done (the commit stage records it).
        let mut batch = Batch::new(p, BatchKind::Replay(replay.id), start, c.end);
        batch.replay = Some(Arc::new(replay));
        c.source.seek(c.end).await.map_err(|e| e.to_string())?;
        return Ok(Some(batch));
    }
    let mut batch = Batch::new(p, BatchKind::Replay(replay.id), start, end);
    batch.raw = records;
    batch.replay = Some(Arc::new(replay));
    Ok(Some(batch))
}
