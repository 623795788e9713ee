//! The write stage: one transaction per shard per batch, all shards of a batch in parallel;
//! at the batch boundary before it, the owning pipeline's part of a partition move (start
//! the dual-write, or fence and switch). A shard that fails makes the stage wait and retry
//! (the partition stalls, its channels fill, its fetching stops); it never skips a batch.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::{Batch, BatchKind, stages};
use crate::clock::now_ms;
use crate::directory::{DirectoryError, MovePhase, Placement, PlacementState, Snapshot};
use crate::listener::pipeline::PipelineCtx;
use crate::partition::Lp;
use crate::store::{RowWrite, Shard, StoreError, WriteOutcome};

/// Writes the batch (after any move work due at this boundary) and records the authoritative
/// outcome of every row.
pub async fn write(ctx: &PipelineCtx, batch: &mut Batch) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match attempt(ctx, batch).await {
            Ok(()) => {
                ctx.status.set_stalled(None);
                return;
            }
            Err(reason) => {
                ctx.status.set_stalled(Some(reason));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn attempt(ctx: &PipelineCtx, batch: &mut Batch) -> Result<(), String> {
    let snapshot = ctx.shared.directory.snapshot();
    if let Some(pause) = move_work(ctx, &snapshot, batch.first_offset).await? {
        batch.pause_ms = Some(batch.pause_ms.unwrap_or(0.0).max(pause));
    }
    if batch.kind == BatchKind::Tick || batch.rows.is_empty() {
        return Ok(());
    }
    let snapshot = ctx.shared.directory.snapshot();
    if snapshot.version != batch.routed_version || batch.writes.is_empty() {
        stages::route(batch, &snapshot);
    }
    let writes = std::mem::take(&mut batch.writes);
    let mut shards = Vec::with_capacity(writes.len());
    for w in &writes {
        shards.push(
            ctx.shared
                .shards
                .get(w.shard)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let results = join_all(
        shards
            .iter()
            .zip(&writes)
            .map(|(shard, w)| shard.write(w.rows.clone())),
    )
    .await;
    let mut moved = false;
    let mut failure: Option<StoreError> = None;
    batch.outcomes = vec![None; batch.rows.len()];
    for (w, result) in writes.iter().zip(results) {
        match result {
            Ok(outcomes) => {
                for (source, outcome) in w.sources.iter().zip(outcomes) {
                    if matches!(outcome, WriteOutcome::Moved { .. }) {
                        moved = true;
                    }
                    if w.authoritative {
                        batch.outcomes[*source] = Some(outcome);
                    }
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    batch.writes = writes;
    if let Some(e) = failure {
        return Err(e.to_string());
    }
    if moved {
        // Routed by an older epoch than a shard's fence: read the directory again and write
        // once more (the rows that did land are version-guarded, so rewriting them is a no-op).
        ctx.shared
            .directory
            .refresh()
            .await
            .map_err(|e| e.to_string())?;
        batch.writes.clear();
        return Err("a shard refused rows routed by an old directory epoch; routing again".into());
    }
    let mut rows_per_lp: Vec<(Lp, u64)> = Vec::new();
    for r in &batch.rows {
        match rows_per_lp.last_mut() {
            Some((lp, n)) if *lp == r.row.lp => *n += 1,
            _ => rows_per_lp.push((r.row.lp, 1)),
        }
    }
    for (lp, n) in rows_per_lp {
        ctx.shared.hot.record(lp, n);
    }
    Ok(())
}

/// The moves of partitions this pipeline owns that need it at this boundary: acknowledge a
/// dual-write (from `first_offset` on), or carry out a cutover. Returns the write pause a
/// cutover caused (ms).
async fn move_work(
    ctx: &PipelineCtx,
    snapshot: &Snapshot,
    first_offset: u64,
) -> Result<Option<f64>, String> {
    let mine = |lp: &Lp| {
        lp.group == ctx.partition.group && lp.lp % ctx.shared.partitions == ctx.partition.partition
    };
    let mut pause = None;
    for (lp, placement) in snapshot.state.overrides.iter().filter(|(lp, _)| mine(lp)) {
        match placement.state {
            PlacementState::DualWrite { to, since: None } => {
                acknowledge_dual_write(ctx, *lp, to, first_offset)
                    .await
                    .map_err(|e| format!("dual-write of {lp}: {e}"))?;
            }
            PlacementState::Cutover { to } => {
                let ms = cutover(ctx, *lp, *placement, to)
                    .await
                    .map_err(|e| format!("cutover of {lp}: {e}"))?;
                pause = Some(pause.unwrap_or(0.0_f64).max(ms));
            }
            _ => {}
        }
    }
    Ok(pause)
}

async fn acknowledge_dual_write(
    ctx: &PipelineCtx,
    lp: Lp,
    to: u32,
    first_offset: u64,
) -> Result<(), DirectoryError> {
    ctx.shared
        .directory
        .update(|state| {
            let mut placement = state.placement(lp);
            if placement.state != (PlacementState::DualWrite { to, since: None }) {
                return Ok(());
            }
            placement.state = PlacementState::DualWrite {
                to,
                since: Some(first_offset),
            };
            state.set_placement(lp, placement);
            let now = now_ms();
            if let Some(job) = state
                .moves
                .iter_mut()
                .find(|m| m.lp == lp && m.phase == MovePhase::DualWrite)
            {
                job.phase = MovePhase::Backfill;
                job.updated_ms = now;
            }
            Ok(())
        })
        .await?;
    ctx.shared.holds.hold("dual_write_acked").await;
    Ok(())
}

/// The switch, at a batch boundary of the only writer of `lp`, so nothing is written while
/// it runs: copy again what changed since the last verification began, fence the source at
/// the next epoch (it refuses older writes from then on), and point the directory at the
/// target. The time this takes is the write pause, measured and recorded in the job.
async fn cutover(ctx: &PipelineCtx, lp: Lp, placement: Placement, to: u32) -> Result<f64, String> {
    let started = Instant::now();
    let snapshot = ctx.shared.directory.snapshot();
    let since = snapshot
        .state
        .active_move(lp)
        .and_then(|j| j.verify_started_ms)
        .unwrap_or(0);
    let source = ctx
        .shared
        .shards
        .get(placement.shard)
        .await
        .map_err(|e| e.to_string())?;
    let target = ctx.shared.shards.get(to).await.map_err(|e| e.to_string())?;
    let t_shards = started.elapsed();
    let recopied = recopy_changed(&source, &target, lp, placement.epoch, since)
        .await
        .map_err(|e| e.to_string())?;
    let t_recopy = started.elapsed();
    let epoch = placement.epoch + 1;
    source
        .set_fence(lp, epoch)
        .await
        .map_err(|e| e.to_string())?;
    let t_fence = started.elapsed();
    ctx.shared.holds.hold("fenced").await;
    let pause_ms = started.elapsed().as_secs_f64() * 1000.0;
    ctx.shared
        .directory
        .update(|state| {
            let current = state.placement(lp);
            if current.state != (PlacementState::Cutover { to }) {
                return Ok(());
            }
            state.set_placement(
                lp,
                Placement {
                    shard: to,
                    epoch,
                    state: PlacementState::Stable,
                },
            );
            let now = now_ms();
            if let Some(job) = state
                .moves
                .iter_mut()
                .find(|m| m.lp == lp && m.phase == MovePhase::Cutover)
            {
                job.phase = MovePhase::Cleanup;
                job.pause_ms = Some(pause_ms);
                job.cutover_ms = Some(now);
                job.copied += recopied;
                job.updated_ms = now;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    // The pause ends here; record the whole of it (the job's figure above was taken before
    // the switch itself).
    let total = started.elapsed().as_secs_f64() * 1000.0;
    let detail = format!(
        "check {:.1} ms ({recopied} rows copied), fence {:.1} ms, switch {:.1} ms",
        (t_recopy - t_shards).as_secs_f64() * 1000.0,
        (t_fence - t_recopy).as_secs_f64() * 1000.0,
        total - t_fence.as_secs_f64() * 1000.0
    );
    ctx.shared.hot.record_pause(total);
    let _ = ctx
        .shared
        .directory
        .update(|state| {
            if let Some(job) = state
                .moves
                .iter_mut()
                .find(|m| m.lp == lp && m.cutover_ms.is_some() && m.pause_ms == Some(pause_ms))
            {
                job.pause_ms = Some(total);
                job.pause_detail = Some(detail.clone());
            }
            Ok(())
        })
        .await;
    ctx.shared.holds.hold("switched").await;
    Ok(total)
}

/// Checks the rows of `lp` changed at or after `since_ms` on `source` against `target`, and
/// copies those that differ (version-guarded). While the partition was dual-written every
/// change reached both, so this normally finds nothing to copy and only reads: the cutover
/// pause is not spent queueing behind other writers. Returns the rows copied.
pub(crate) async fn recopy_changed(
    source: &Shard,
    target: &Shard,
    lp: Lp,
    epoch: u64,
    since_ms: i64,
) -> Result<u64, StoreError> {
    let (changed, there) = tokio::join!(
        source.changed_since(lp, since_ms),
        target.changed_since(lp, since_ms)
    );
    let there: std::collections::HashMap<(crate::model::Domain, String), (u64, u64)> = there?
        .into_iter()
        .map(|r| ((r.domain, r.key.clone()), r.order()))
        .collect();
    let mut differing = Vec::new();
    for row in changed? {
        // A row the target has at the same or a newer version (or wrote after `since`
        // without the source having changed it since) needs nothing.
        if there
            .get(&(row.domain, row.key.clone()))
            .is_none_or(|o| *o < row.order())
        {
            differing.push(row);
        }
    }
    // Rows not changed on the target since `since` may still be current there: check them
    // one by one (normally none are left).
    let mut copy = Vec::new();
    for row in differing {
        let current = target.get(lp, row.domain, &row.key).await?;
        if current.is_none_or(|t| t.order() < row.order()) {
            copy.push(RowWrite { row, epoch });
        }
    }
    let copied = copy.len() as u64;
    target.write(copy).await?;
    Ok(copied)
}
