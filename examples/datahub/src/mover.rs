//! Moving a logical partition to another shard, online, in the process that owns it.
//!
//! | phase | who | what | why it is safe |
//! |---|---|---|---|
//! | dual-write | owning pipeline | at its next batch boundary, writes every row of the partition to the source (authoritative) and the target, and records the first offset it did so | every write from then on is in both; every earlier one is in the source |
//! | backfill | mover | copies the source's rows in key order, 1,000 at a time, version-guarded, within a rows/s budget | a row changed during the copy is either dual-written later with a newer version (which wins) or copied after the change; tombstones stop a copy from bringing a deleted row back |
//! | verify | mover | compares per-bucket checksums of both; copies mismatching buckets again; repeats until equal | VDiff in miniature |
//! | cutover | owning pipeline | at a batch boundary (nothing is being written): copies again the rows changed since the verification began, fences the source at the next epoch, switches the directory | the owner is the only writer, so "stop writes" is "do not start the next batch"; the pause is measured |
//! | cleanup | mover | after the grace period, deletes the source's rows in chunks | the fence refuses late writers; reads go to the target |
//!
//! Every step is idempotent and its progress is in the directory, so after a crash the next
//! owner of the partition (the restarted process, or another after a rebalance) picks the
//! move up where it was: a backfill from its cursor, a cutover from the start (fencing and
//! switching twice change nothing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::directory::{Directory, MoveJob, MovePhase, Placement, PlacementState};
use crate::faults::Holds;
use crate::partition::{LogPartition, Lp};
use crate::store::{BUCKETS, RowWrite, ShardSet, checksum::bucket_of};

/// Rows per backfill chunk.
const CHUNK: usize = 1000;

/// Which log partitions this process owns (all, with the embedded log).
pub type Owns = Arc<dyn Fn(LogPartition) -> bool + Send + Sync>;

/// Runs the moves of the partitions this process owns, until dropped.
#[derive(Debug)]
pub struct Mover {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mover {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mover {
    /// Starts the mover task.
    pub fn start(
        directory: Directory,
        shards: ShardSet,
        partitions: u32,
        owns: Owns,
        holds: Holds,
    ) -> Self {
        let task = tokio::spawn(run(directory, shards, partitions, owns, holds));
        Self { task }
    }
}

async fn run(directory: Directory, shards: ShardSet, partitions: u32, owns: Owns, holds: Holds) {
    let mut changes = directory.subscribe();
    loop {
        let snapshot = directory.snapshot();
        let mut busy = false;
        for job in snapshot.state.moves.iter().filter(|j| !j.phase.is_final()) {
            if !owns(job.lp.log_partition(partitions)) {
                continue;
            }
            let placement = snapshot.placement(job.lp);
            let result = step(&directory, &shards, job, placement, &holds).await;
            match result {
                Ok(progressed) => busy |= progressed,
                Err(e) => {
                    let id = job.id;
                    let _ = directory
                        .update(|state| {
                            if let Some(j) = state.move_job_mut(id) {
                                j.error = Some(e.clone());
                            }
                            Ok(())
                        })
                        .await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        if !busy {
            tokio::select! {
                _ = changes.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }
}

/// One step of a move. True when it did work (so the loop goes on without waiting).
async fn step(
    directory: &Directory,
    shards: &ShardSet,
    job: &MoveJob,
    placement: Placement,
    holds: &Holds,
) -> Result<bool, String> {
    match job.phase {
        // Waiting for the owning pipeline: it acknowledges the dual-write, and it switches.
        MovePhase::DualWrite | MovePhase::Cutover => Ok(false),
        MovePhase::Backfill => backfill_chunk(directory, shards, job, placement, holds).await,
        MovePhase::Verify => verify(directory, shards, job, placement, holds).await,
        MovePhase::Cleanup => cleanup(directory, shards, job).await,
        MovePhase::Done | MovePhase::RolledBack => Ok(false),
    }
}

async fn backfill_chunk(
    directory: &Directory,
    shards: &ShardSet,
    job: &MoveJob,
    placement: Placement,
    holds: &Holds,
) -> Result<bool, String> {
    let started = Instant::now();
    let source = shards.get(job.from).await.map_err(|e| e.to_string())?;
    let target = shards.get(job.to).await.map_err(|e| e.to_string())?;
    let rows = source
        .scan(job.lp, job.cursor.clone(), CHUNK)
        .await
        .map_err(|e| e.to_string())?;
    let n = rows.len();
    let cursor = rows.last().map(|r| (r.domain, r.key.clone()));
    let writes = rows
        .into_iter()
        .map(|row| RowWrite {
            row,
            epoch: placement.epoch,
        })
        .collect();
    target.write(writes).await.map_err(|e| e.to_string())?;
    let finished = n < CHUNK;
    let id = job.id;
    directory
        .update(|state| {
            let Some(j) = state.move_job_mut(id) else {
                return Ok(());
            };
            if j.phase != MovePhase::Backfill || j.cursor.as_ref() != job.cursor.as_ref() {
                return Ok(());
            }
            j.copied += n as u64;
            if cursor.is_some() {
                j.cursor.clone_from(&cursor);
            }
            if finished {
                j.phase = MovePhase::Verify;
            }
            j.updated_ms = now_ms();
            j.error = None;
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    holds.hold("backfill_chunk").await;
    // The budget: a chunk of n rows takes at least n / rows_per_s seconds.
    let budget = Duration::from_secs_f64(n as f64 / f64::from(job.rows_per_s.max(1)));
    if let Some(rest) = budget.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    Ok(true)
}

async fn verify(
    directory: &Directory,
    shards: &ShardSet,
    job: &MoveJob,
    placement: Placement,
    holds: &Holds,
) -> Result<bool, String> {
    let round_started = now_ms();
    let source = shards.get(job.from).await.map_err(|e| e.to_string())?;
    let target = shards.get(job.to).await.map_err(|e| e.to_string())?;
    let (a, b) = tokio::join!(source.checksum(job.lp), target.checksum(job.lp));
    let (a, b) = (a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?);
    let mismatched = a.mismatches(&b);
    let mut recopied = 0;
    if !mismatched.is_empty() {
        recopied = recopy_buckets(&source, &target, job.lp, placement.epoch, &mismatched)
            .await
            .map_err(|e| e.to_string())?;
        // Give in-flight dual writes a moment before comparing again.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = job.id;
    let clean = mismatched.is_empty();
    directory
        .update(|state| {
            let Some(j) = state.move_job(id).cloned() else {
                return Ok(());
            };
            if j.phase != MovePhase::Verify {
                return Ok(());
            }
            if clean {
                // Switch at the owner's next batch boundary.
                let current = state.placement(j.lp);
                if let PlacementState::DualWrite { to, .. } = current.state {
                    state.set_placement(
                        j.lp,
                        Placement {
                            state: PlacementState::Cutover { to },
                            ..current
                        },
                    );
                }
            }
            if let Some(j) = state.move_job_mut(id) {
                j.verify_rounds += 1;
                j.verified = a.total();
                j.recopied_buckets += mismatched.len() as u64;
                j.copied += recopied;
                j.verify_started_ms = Some(round_started);
                if clean {
                    j.phase = MovePhase::Cutover;
                }
                j.updated_ms = now_ms();
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    if clean {
        holds.hold("verified").await;
    }
    Ok(true)
}

/// Copies the source's rows of the given buckets to the target again.
async fn recopy_buckets(
    source: &crate::store::Shard,
    target: &crate::store::Shard,
    lp: Lp,
    epoch: u64,
    buckets: &[usize],
) -> Result<u64, crate::store::StoreError> {
    let mut wanted = [false; BUCKETS];
    for b in buckets {
        wanted[*b] = true;
    }
    let mut after = None;
    let mut sent = 0;
    loop {
        let rows = source.scan(lp, after.clone(), 5000).await?;
        let n = rows.len();
        if let Some(last) = rows.last() {
            after = Some((last.domain, last.key.clone()));
        }
        let writes: Vec<RowWrite> = rows
            .into_iter()
            .filter(|r| wanted[bucket_of(r.domain.id(), &r.key)])
            .map(|row| RowWrite { row, epoch })
            .collect();
        sent += writes.len() as u64;
        target.write(writes).await?;
        if n < 5000 {
            return Ok(sent);
        }
    }
}

async fn cleanup(directory: &Directory, shards: &ShardSet, job: &MoveJob) -> Result<bool, String> {
    let due = job.cutover_ms.is_some_and(|t| {
        now_ms() >= t.saturating_add(i64::try_from(job.grace_ms).unwrap_or(i64::MAX))
    });
    if !due {
        return Ok(false);
    }
    let source = shards.get(job.from).await.map_err(|e| e.to_string())?;
    let deleted = source
        .delete_chunk(job.lp, 5000)
        .await
        .map_err(|e| e.to_string())?;
    let id = job.id;
    directory
        .update(|state| {
            if let Some(j) = state.move_job_mut(id)
                && j.phase == MovePhase::Cleanup
            {
                j.cleaned += deleted as u64;
                if deleted == 0 {
                    j.phase = MovePhase::Done;
                }
                j.updated_ms = now_ms();
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(deleted > 0)
}
