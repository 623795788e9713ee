//! The commit stage: dead letters stored, then the offset committed (only now: every shard
//! transaction of the batch has committed), then publishers waiting for `Ack::Applied` told,
//! and replay progress recorded.

use super::{Batch, BatchKind};
use crate::clock::now_ms;
use crate::directory::DirectoryError;
use crate::listener::applied::Applied;
use crate::listener::lineage::LineageEntry;
use crate::listener::pipeline::PipelineCtx;
use crate::model::ItemStatus;
use crate::query::invalidate::Owner;
use crate::store::WriteOutcome;

/// Commits a written batch. Retries until the offset store takes it (a lost offset commit
/// would only mean re-applying, but an unrecorded one must not let the position run ahead).
pub async fn commit(ctx: &PipelineCtx, batch: Batch) {
    let written_ms = now_ms();
    // The read path's caches drop what this batch changed before anyone is told it applied.
    ctx.shared
        .invalidations
        .send_all(&changed_owners(&batch))
        .await;
    let mut backoff = std::time::Duration::from_millis(50);
    while let Err(e) = ctx.shared.meta.dead_letters(batch.dead.clone()).await {
        ctx.status.set_stalled(Some(format!("dead letters: {e}")));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
    }
    match batch.kind {
        BatchKind::Live => {
            while let Err(e) = ctx.offsets.commit(ctx.partition, batch.end_offset).await {
                ctx.status.set_stalled(Some(format!("offset commit: {e}")));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
            }
            ctx.status.set_stalled(None);
            ctx.status.set_committed(batch.end_offset);
            ctx.shared
                .applied
                .publish(ctx.partition, batch.end_offset, outcomes(&batch));
            let now = now_ms();
            record_lineage(ctx, &batch, written_ms, now);
            let counters = crate::metrics::counters();
            for item in batch.items.iter().filter(|i| !i.duplicate) {
                let ms = now.saturating_sub(item.logged_ms);
                ctx.shared.hot.record_latency(ms);
                if let Some(domain) = item.event.payload.domain() {
                    counters.applied(domain, ms);
                }
            }
        }
        BatchKind::Replay(id) => {
            let (reapplied, unchanged) = batch.outcomes.iter().fold((0, 0), |(a, u), o| match o {
                Some(WriteOutcome::Applied) => (a + 1, u),
                Some(_) => (a, u + 1),
                None => (a, u),
            });
            let matched = batch.items.len() as u64;
            let partition = ctx.partition.partition;
            let end = batch.end_offset;
            let r: Result<_, DirectoryError> = ctx
                .shared
                .directory
                .update(|state| {
                    if let Some(progress) =
                        state.replays.iter_mut().find(|r| r.id == id).and_then(|r| {
                            r.partitions.iter_mut().find(|p| p.partition == partition)
                        })
                        && progress.next.is_some_and(|n| n < end)
                    {
                        progress.next = Some(end);
                        progress.matched += matched;
                        progress.reapplied += reapplied;
                        progress.unchanged += unchanged;
                        progress.done = progress.end.is_some_and(|e| end >= e);
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = r {
                ctx.status
                    .set_stalled(Some(format!("replay progress: {e}")));
            }
        }
        BatchKind::Tick => return,
    }
    ctx.status.count_batch();
}

/// Records each event's path for `Admin.lineage` (a redelivered duplicate keeps the path of
/// the delivery that applied it).
fn record_lineage(ctx: &PipelineCtx, batch: &Batch, written_ms: i64, committed_ms: i64) {
    let fetched_ms = committed_ms
        .saturating_sub(i64::try_from(batch.fetched_at.elapsed().as_millis()).unwrap_or(0));
    // Each item's primary row, and each row's authoritative shard, found once.
    let mut primary: Vec<Option<usize>> = vec![None; batch.items.len()];
    for (i, r) in batch.rows.iter().enumerate() {
        if r.primary
            && let Some(slot) = primary.get_mut(r.item)
        {
            *slot = Some(i);
        }
    }
    let mut shard_of: Vec<u32> = vec![0; batch.rows.len()];
    for w in batch.writes.iter().filter(|w| w.authoritative) {
        for &source in &w.sources {
            if let Some(s) = shard_of.get_mut(source) {
                *s = w.shard;
            }
        }
    }
    let lineage = &ctx.shared.lineage;
    for (index, item) in batch.items.iter().enumerate() {
        if item.duplicate && lineage.get(&item.event.event_id).is_some() {
            continue;
        }
        let (shard, version, outcome) = match primary[index] {
            None => (0, 0, if item.duplicate { "duplicate" } else { "none" }),
            Some(row) => {
                let shard = shard_of[row];
                let version = batch.rows[row].row.version();
                match batch.outcomes.get(row).copied().flatten() {
                    Some(WriteOutcome::Applied) => (shard, version, "applied"),
                    Some(WriteOutcome::Unchanged) => (shard, version, "unchanged"),
                    Some(WriteOutcome::Stale) => (shard, 0, "stale"),
                    Some(WriteOutcome::Moved { .. }) => (shard, 0, "moved"),
                    None => (shard, 0, "none"),
                }
            }
        };
        crate::trace::applied(crate::trace::Applied {
            event: &item.event,
            shard,
            version,
            outcome,
            logged_ms: item.logged_ms,
            committed_ms,
        });
        lineage.record(
            &item.event.event_id,
            LineageEntry {
                partition: ctx.partition,
                offset: item.offset,
                stages: [
                    ("logged", item.logged_ms),
                    ("fetched", fetched_ms),
                    ("written", written_ms),
                    ("committed", committed_ms),
                ],
                shard,
                version,
                outcome,
                trace_id: item.event.trace_id.clone(),
            },
        );
    }
}

/// The owners (member or seller) whose rows the batch changed.
fn changed_owners(batch: &Batch) -> Vec<Owner> {
    let group = batch.partition.group;
    let mut owners: Vec<Owner> = batch
        .rows
        .iter()
        .zip(&batch.outcomes)
        .filter(|(_, o)| matches!(o, Some(WriteOutcome::Applied)))
        .filter_map(|(r, _)| batch.items.get(r.item))
        .filter_map(|item| item.event.partition_key.parse().ok())
        .map(|id| Owner { group, id })
        .collect();
    owners.sort_unstable();
    owners.dedup();
    owners
}

/// What each event of a live batch came to, for publishers waiting with `Ack::Applied`.
fn outcomes(batch: &Batch) -> Vec<(u64, Applied)> {
    let mut out: Vec<(u64, Applied)> = Vec::with_capacity(batch.items.len() + batch.dead.len());
    for d in &batch.dead {
        out.push((
            d.offset,
            Applied::Status(ItemStatus::Invalid(d.reason.clone())),
        ));
    }
    for (index, item) in batch.items.iter().enumerate() {
        if item.duplicate {
            out.push((item.offset, Applied::Status(ItemStatus::Duplicate)));
            continue;
        }
        let primary = batch
            .rows
            .iter()
            .zip(&batch.outcomes)
            .find(|(r, _)| r.item == index && r.primary);
        let applied = match primary {
            Some((r, Some(WriteOutcome::Applied | WriteOutcome::Unchanged))) => {
                Applied::Version(r.row.version())
            }
            Some((_, Some(WriteOutcome::Stale))) => Applied::Status(ItemStatus::Stale),
            _ => Applied::Status(ItemStatus::Accepted),
        };
        out.push((item.offset, applied));
    }
    out.sort_by_key(|(o, _)| *o);
    out
}
