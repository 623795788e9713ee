//! A shard in one SQLite file (`rusqlite`, bundled SQLite).
//!
//! One writer thread per shard owns the write connection. Pipelines hand it write jobs
//! through a bounded queue (a full queue makes them wait: backpressure); the writer merges
//! the jobs waiting at that moment into **one transaction**, sorted by primary key, so
//! several pipelines' batches for one shard share one commit, the way publishers share one
//! `fdatasync` in the log. Reads use their own connections (WAL lets them run beside the
//! writer).
//!
//! Pragmas, from measurements on the target machines: WAL; `synchronous=FULL` when commits
//! must be durable (see [`ShardOptions::durable_commits`]), else `NORMAL`; automatic
//! checkpoints off and a checkpoint thread doing passive checkpoints every second instead
//! (checkpointing inside commits was the cost: 16.6k → 70.3k upserts/s when it moved out);
//! a 64 MiB page cache and 256 MiB of memory-mapped reads.
//!
//! The WAL is bounded ([`WAL_LIMIT`]). Passive checkpoints copy its pages into the database
//! file beside the writer, but only a writer can start the WAL over, and only when every
//! frame has been copied back at the moment it begins a transaction: a writer that keeps
//! committing never finds that moment, and the WAL grew without end (2 GB per shard for a
//! 16 MB database in 30 s of the backpressure test, which filled a CI machine's disk). So
//! the writer itself, between transactions, checkpoints and truncates the WAL once its file
//! passes the limit (a `TRUNCATE` checkpoint: it copies what the passive ones have not yet
//! copied and waits, up to the busy timeout, for readers still on the old frames), and
//! `journal_size_limit` caps what a WAL started over keeps on disk.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::{
    Fault, PartitionRead, ReadPart, Row, RowWrite, ShardOptions, StoreError, WriteOutcome,
    prefix_end, sorted_order,
};
use crate::model::Domain;
use crate::partition::{Group, Lp};

/// Write jobs queued per shard before pipelines wait.
const QUEUE: usize = 64;
/// Write jobs merged into one transaction at most.
const MERGE: usize = 64;
/// Rows merged into one transaction at most: bounds how long one transaction holds the
/// write lock (a cutover's fence waits for it).
const MERGE_ROWS: usize = 4000;

/// The shard schema.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    grp INTEGER NOT NULL,
    lp INTEGER NOT NULL,
    domain INTEGER NOT NULL,
    key TEXT NOT NULL,
    source_version INTEGER NOT NULL,
    log_pos INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    payload BLOB NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (grp, lp, domain, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partition_fence (
    grp INTEGER NOT NULL,
    lp INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    PRIMARY KEY (grp, lp)
) WITHOUT ROWID;
";

/// The size of a shard's WAL file past which its writer checkpoints it and truncates it
/// (see the module docs). At full speed a shard's writer appends ~60 MB of WAL a second
/// (each commit rewrites the pages it touches), so this is about a second of writes.
pub const WAL_LIMIT: u64 = 64 * 1024 * 1024;

/// The version-guarded upsert: a row changes only for a greater `(source_version, log_pos)`.
pub const UPSERT: &str = "
INSERT INTO records (grp, lp, domain, key, source_version, log_pos, deleted, payload, updated_at_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (grp, lp, domain, key) DO UPDATE SET
    source_version = excluded.source_version,
    log_pos = excluded.log_pos,
    deleted = excluded.deleted,
    payload = excluded.payload,
    updated_at_ms = excluded.updated_at_ms
WHERE (excluded.source_version, excluded.log_pos) > (records.source_version, records.log_pos)";

const SELECT_ROW: &str = "SELECT grp, lp, domain, key, source_version, log_pos, deleted, payload, updated_at_ms FROM records";

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    Write {
        rows: Vec<RowWrite>,
        reply: Reply<Vec<WriteOutcome>>,
    },
    DeleteChunk {
        lp: Lp,
        limit: usize,
        reply: Reply<usize>,
    },
    /// Sets a fence: queued as urgent (see [`SqliteShard::set_fence`]).
    Fence {
        lp: Lp,
        epoch: u64,
        reply: Reply<()>,
    },
    /// Wakes the writer to look at the urgent queue.
    Wake,
}

impl Job {
    fn rows(&self) -> usize {
        match self {
            Job::Write { rows, .. } => rows.len(),
            Job::DeleteChunk { .. } | Job::Fence { .. } | Job::Wake => 0,
        }
    }
}

/// A SQLite shard. Cheap to clone.
#[derive(Clone)]
pub struct SqliteShard {
    inner: Arc<Inner>,
}

/// Read connections per shard (and reads at once).
const READERS: usize = 4;

struct Inner {
    id: u32,
    path: PathBuf,
    jobs: mpsc::Sender<Job>,
    urgent: Arc<Mutex<VecDeque<Job>>>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per read connection: reads beyond [`READERS`] wait for one, rather than
    /// open (and close) a connection of their own, which cost ~1 ms of CPU each.
    read_slots: tokio::sync::Semaphore,
    fault: Arc<Fault>,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for SqliteShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteShard")
            .field("id", &self.inner.id)
            .field("path", &self.inner.path)
            .finish()
    }
}

fn db_err(shard: u32) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Database {
        shard,
        reason: e.to_string(),
    }
}

/// Opens a connection with the shard pragmas.
pub fn connect(path: &Path, durable: bool) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)?;
    Ok(conn)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn read_row(shard: u32, r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Row, StoreError>> {
    let grp: i64 = r.get(0)?;
    let lp: i64 = r.get(1)?;
    let domain: i64 = r.get(2)?;
    let corrupt = |reason: String| Ok(Err(StoreError::Corrupt { shard, reason }));
    let Some(group) = u8::try_from(grp).ok().and_then(Group::from_id) else {
        return corrupt(format!("group number {grp}"));
    };
    let Some(domain) = u8::try_from(domain).ok().and_then(Domain::from_id) else {
        return corrupt(format!("domain number {domain}"));
    };
    let payload: Vec<u8> = r.get(7)?;
    Ok(Ok(Row {
        lp: Lp {
            group,
            lp: u32::try_from(lp).unwrap_or(u32::MAX),
        },
        domain,
        key: r.get(3)?,
        source_version: to_u64(r.get(4)?),
        log_pos: to_u64(r.get(5)?),
        deleted: r.get::<_, i64>(6)? != 0,
        payload: Bytes::from(payload),
        updated_at_ms: r.get(8)?,
    }))
}

impl SqliteShard {
    /// Opens (or creates) shard `id` in the file at `path` and starts its writer and
    /// checkpoint threads.
    pub fn open(id: u32, path: &Path, options: &ShardOptions) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database {
                shard: id,
                reason: format!("{}: {e}", dir.display()),
            })?;
        }
        let conn = connect(path, options.durable_commits).map_err(db_err(id))?;
        // Only the writer starts the WAL over, so only its connection needs the cap.
        conn.pragma_update(None, "journal_size_limit", to_i64(options.sqlite_wal_limit))
            .map_err(db_err(id))?;
        conn.execute_batch(SCHEMA).map_err(db_err(id))?;
        let (jobs, rx) = mpsc::channel(QUEUE);
        let urgent = Arc::new(Mutex::new(VecDeque::new()));
        let writer_urgent = Arc::clone(&urgent);
        let fault = Arc::new(Fault::default());
        let stop = Arc::new(AtomicBool::new(false));
        let writer_fault = Arc::clone(&fault);
        let wal = WalBound::new(path, options.sqlite_wal_limit);
        let one_checkpoint = Arc::clone(&wal.one_checkpoint);
        std::thread::Builder::new()
            .name(format!("shard-{id}-writer"))
            .spawn(move || writer(id, conn, rx, &writer_urgent, &writer_fault, wal))
            .map_err(|e| StoreError::Database {
                shard: id,
                reason: e.to_string(),
            })?;
        let checkpoint = connect(path, false).map_err(db_err(id))?;
        let checkpoint_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name(format!("shard-{id}-checkpoint"))
            .spawn(move || {
                while !checkpoint_stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1000));
                    let _one = one_checkpoint
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    let _ = checkpoint.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| StoreError::Database {
                shard: id,
                reason: e.to_string(),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                path: path.to_path_buf(),
                jobs,
                urgent,
                readers: Mutex::new(Vec::new()),
                read_slots: tokio::sync::Semaphore::new(READERS),
                fault,
                stop,
            }),
        })
    }

    /// The shard's id.
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The fault injection handle.
    pub fn fault(&self) -> Arc<Fault> {
        Arc::clone(&self.inner.fault)
    }

    async fn submit<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, StoreError> {
        let (reply, done) = oneshot::channel();
        self.inner
            .jobs
            .send(job(reply))
            .await
            .map_err(|_| StoreError::Closed(self.inner.id))?;
        done.await.map_err(|_| StoreError::Closed(self.inner.id))?
    }

    pub(crate) async fn write(&self, rows: Vec<RowWrite>) -> Result<Vec<WriteOutcome>, StoreError> {
        self.submit(|reply| Job::Write { rows, reply }).await
    }

    /// Sets the fence ahead of the queued writes (they are other partitions': the owner of
    /// this one is between batches): the fence is part of a cutover's write pause, which
    /// should wait for at most the transaction in progress, not for the queue, nor for
    /// SQLite's busy-wait backoff on a second connection.
    pub(crate) async fn set_fence(&self, lp: Lp, epoch: u64) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.inner
            .urgent
            .lock()
            .map_err(|_| StoreError::Closed(self.inner.id))?
            .push_back(Job::Fence { lp, epoch, reply });
        // A full queue means the writer is busy and looks at the urgent queue before its next
        // transaction anyway.
        let _ = self.inner.jobs.try_send(Job::Wake);
        done.await.map_err(|_| StoreError::Closed(self.inner.id))?
    }

    pub(crate) async fn delete_chunk(&self, lp: Lp, limit: usize) -> Result<usize, StoreError> {
        self.submit(|reply| Job::DeleteChunk { lp, limit, reply })
            .await
    }

    /// Runs `f` on a read connection from the pool, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _slot = self
            .inner
            .read_slots
            .acquire()
            .await
            .map_err(|_| StoreError::Closed(self.inner.id))?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut p| p.pop());
            let conn = match pooled {
                Some(c) => c,
                None => connect(&inner.path, false).map_err(db_err(inner.id))?,
            };
            let result = f(&conn);
            // A connection still inside a transaction (a failed COMMIT) would serve an old
            // snapshot and hold back checkpoints: it is closed, not pooled.
            if conn.is_autocommit()
                && let Ok(mut pool) = inner.readers.lock()
                && pool.len() < READERS
            {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Database {
            shard: self.inner.id,
            reason: e.to_string(),
        })?
    }

    pub(crate) async fn get(
        &self,
        lp: Lp,
        domain: Domain,
        key: &str,
    ) -> Result<Option<Row>, StoreError> {
        let id = self.inner.id;
        let key = key.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{SELECT_ROW} WHERE grp = ?1 AND lp = ?2 AND domain = ?3 AND key = ?4"
                ))
                .map_err(db_err(id))?;
            stmt.query_row(params![lp.group.id(), lp.lp, domain.id(), key], |r| {
                read_row(id, r)
            })
            .optional()
            .map_err(db_err(id))?
            .transpose()
        })
        .await
    }

    /// The fence and every part in one read transaction: one snapshot of the WAL, on one
    /// pooled connection, with simple cached statements. (One statement joining them all, as
    /// PostgreSQL gets, made SQLite re-prepare it at every step: half a millisecond each.)
    pub(crate) async fn read_partition(
        &self,
        lp: Lp,
        parts: Vec<ReadPart>,
    ) -> Result<PartitionRead, StoreError> {
        let id = self.inner.id;
        self.read(move |conn| {
            let db = db_err(id);
            // BEGIN and COMMIT as cached statements: a `Transaction` parses them every time.
            conn.prepare_cached("BEGIN")
                .and_then(|mut s| s.execute([]))
                .map_err(&db)?;
            let read = read_parts(id, conn, lp, &parts);
            let end = if read.is_ok() { "COMMIT" } else { "ROLLBACK" };
            conn.prepare_cached(end)
                .and_then(|mut s| s.execute([]))
                .map_err(&db)?;
            read
        })
        .await
    }

    pub(crate) async fn scan(
        &self,
        lp: Lp,
        after: Option<(Domain, String)>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let id = self.inner.id;
        self.read(move |conn| {
            let (d, k) = after.map_or((-1i64, String::new()), |(d, k)| (i64::from(d.id()), k));
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{SELECT_ROW} WHERE grp = ?1 AND lp = ?2 AND (domain, key) > (?3, ?4) \
                     ORDER BY domain, key LIMIT ?5"
                ))
                .map_err(db_err(id))?;
            let rows = stmt
                .query_map(
                    params![
                        lp.group.id(),
                        lp.lp,
                        d,
                        k,
                        i64::try_from(limit).unwrap_or(i64::MAX)
                    ],
                    |r| read_row(id, r),
                )
                .map_err(db_err(id))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(db_err(id))??);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn changed_since(
        &self,
        lp: Lp,
        since_ms: i64,
    ) -> Result<Vec<Row>, StoreError> {
        let id = self.inner.id;
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{SELECT_ROW} WHERE grp = ?1 AND lp = ?2 AND updated_at_ms >= ?3"
                ))
                .map_err(db_err(id))?;
            let rows = stmt
                .query_map(params![lp.group.id(), lp.lp, since_ms], |r| read_row(id, r))
                .map_err(db_err(id))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(db_err(id))??);
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn fence(&self, lp: Lp) -> Result<Option<u64>, StoreError> {
        let id = self.inner.id;
        self.read(move |conn| {
            conn.query_row(
                "SELECT epoch FROM partition_fence WHERE grp = ?1 AND lp = ?2",
                params![lp.group.id(), lp.lp],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|e| e.map(to_u64))
            .map_err(db_err(id))
        })
        .await
    }

    pub(crate) async fn count(&self, lp: Lp) -> Result<u64, StoreError> {
        let id = self.inner.id;
        self.read(move |conn| {
            conn.query_row(
                "SELECT count(*) FROM records WHERE grp = ?1 AND lp = ?2",
                params![lp.group.id(), lp.lp],
                |r| r.get::<_, i64>(0),
            )
            .map(to_u64)
            .map_err(db_err(id))
        })
        .await
    }
}

/// The writer thread: takes the jobs waiting, merges consecutive writes into one
/// transaction, replies to each.
fn writer(
    id: u32,
    mut conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    urgent: &Mutex<VecDeque<Job>>,
    fault: &Fault,
    mut wal: WalBound,
) {
    loop {
        wal.keep_bounded(&conn);
        run_urgent(id, &mut conn, urgent);
        let Some(first) = rx.blocking_recv() else {
            return;
        };
        let mut rows = first.rows();
        let mut jobs = vec![first];
        while jobs.len() < MERGE && rows < MERGE_ROWS {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.rows();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        run_urgent(id, &mut conn, urgent);
        let mut writes: Vec<(Vec<RowWrite>, Reply<Vec<WriteOutcome>>)> = Vec::new();
        for job in jobs {
            match job {
                Job::Write { rows, reply } => writes.push((rows, reply)),
                other => {
                    // Keep order: flush the writes queued before this job first.
                    flush(id, &mut conn, &mut writes, fault);
                    run_other(id, &mut conn, other);
                }
            }
        }
        flush(id, &mut conn, &mut writes, fault);
    }
}

/// Keeps a shard's WAL near its limit ([`ShardOptions::sqlite_wal_limit`]): the writer asks
/// between transactions.
struct WalBound {
    path: PathBuf,
    limit: u64,
    /// The file size past which the next checkpoint runs: the limit, or more after a
    /// checkpoint that readers kept from finishing (so a reader that holds on does not stall
    /// every transaction for the busy timeout).
    threshold: u64,
    /// Held by the checkpoint thread's passive checkpoints and the writer's truncating ones.
    /// SQLite lets one checkpoint run at a time and fails a second one at once (no busy
    /// wait), so without it the writer's attempt failed whenever a passive one was running
    /// and the WAL grew by another limit before the next (to 137–184 MiB with a 64 MiB limit);
    /// with it the writer waits for the passive checkpoint, which has just copied most frames.
    one_checkpoint: Arc<Mutex<()>>,
}

impl WalBound {
    /// For the database file at `db`.
    fn new(db: &Path, limit: u64) -> Self {
        let mut path = db.as_os_str().to_owned();
        path.push("-wal");
        Self {
            path: PathBuf::from(path),
            limit,
            threshold: limit,
            one_checkpoint: Arc::default(),
        }
    }

    fn keep_bounded(&mut self, conn: &Connection) {
        let Ok(size) = std::fs::metadata(&self.path).map(|m| m.len()) else {
            return;
        };
        if size <= self.threshold {
            return;
        }
        let _one = self
            .one_checkpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // (busy, frames in the WAL, frames copied): busy = 0 means the WAL was emptied.
        let finished = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .is_ok_and(|busy| busy == 0);
        self.threshold = if finished {
            self.limit
        } else {
            size + self.limit
        };
    }
}

fn run_urgent(id: u32, conn: &mut Connection, urgent: &Mutex<VecDeque<Job>>) {
    loop {
        let Some(job) = urgent.lock().ok().and_then(|mut q| q.pop_front()) else {
            return;
        };
        run_other(id, conn, job);
    }
}

fn run_other(id: u32, conn: &mut Connection, job: Job) {
    match job {
        Job::Fence { lp, epoch, reply } => {
            let r = conn
                .execute(
                    "INSERT INTO partition_fence (grp, lp, epoch) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (grp, lp) DO UPDATE SET epoch = max(epoch, excluded.epoch)",
                    params![lp.group.id(), lp.lp, to_i64(epoch)],
                )
                .map(|_| ())
                .map_err(db_err(id));
            let _ = reply.send(r);
        }
        Job::DeleteChunk { lp, limit, reply } => {
            let r = conn
                .execute(
                    "DELETE FROM records WHERE (grp, lp, domain, key) IN \
                     (SELECT grp, lp, domain, key FROM records WHERE grp = ?1 AND lp = ?2 LIMIT ?3)",
                    params![lp.group.id(), lp.lp, i64::try_from(limit).unwrap_or(i64::MAX)],
                )
                .map_err(db_err(id));
            let _ = reply.send(r);
        }
        Job::Write { .. } | Job::Wake => {}
    }
}

fn flush(
    id: u32,
    conn: &mut Connection,
    writes: &mut Vec<(Vec<RowWrite>, Reply<Vec<WriteOutcome>>)>,
    fault: &Fault,
) {
    if writes.is_empty() {
        return;
    }
    let jobs = std::mem::take(writes);
    let sizes: Vec<usize> = jobs.iter().map(|(rows, _)| rows.len()).collect();
    let mut rows = Vec::with_capacity(sizes.iter().sum());
    let mut replies = Vec::with_capacity(jobs.len());
    for (r, reply) in jobs {
        rows.extend(r);
        replies.push(reply);
    }
    let started = Instant::now();
    let result = write_transaction(conn, &rows).map_err(db_err(id));
    let extra = fault.extra(started.elapsed());
    if !extra.is_zero() {
        std::thread::sleep(extra);
    }
    match result {
        Ok(outcomes) => {
            let mut rest = outcomes.into_iter();
            for (n, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(Ok(rest.by_ref().take(n).collect()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// The fence and the parts of one partition read, inside the caller's read transaction.
fn read_parts(
    id: u32,
    conn: &Connection,
    lp: Lp,
    parts: &[ReadPart],
) -> Result<PartitionRead, StoreError> {
    let db = db_err(id);
    let (grp, num) = (i64::from(lp.group.id()), i64::from(lp.lp));

    let fence = conn
        .prepare_cached("SELECT epoch FROM partition_fence WHERE grp = ?1 AND lp = ?2")
        .map_err(&db)?
        .query_row(params![grp, num], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(&db)?
        .map(to_u64);
    let mut out = PartitionRead {
        rows: Vec::new(),
        fence,
    };
    for part in parts {
        match part {
            ReadPart::Key(domain, key) => {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "{SELECT_ROW} WHERE grp = ?1 AND lp = ?2 AND domain = ?3 AND key = ?4"
                    ))
                    .map_err(&db)?;
                let row = stmt
                    .query_row(params![grp, num, domain.id(), key], |r| read_row(id, r))
                    .optional()
                    .map_err(&db)?
                    .transpose()?;
                out.rows.extend(row);
            }
            ReadPart::Prefix {
                domain,
                prefix,
                limit,
            } => {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "{SELECT_ROW} WHERE grp = ?1 AND lp = ?2 AND domain = ?3 \
                         AND key >= ?4 AND key < ?5 AND deleted = 0 ORDER BY key DESC LIMIT ?6"
                    ))
                    .map_err(&db)?;
                let rows = stmt
                    .query_map(
                        params![grp, num, domain.id(), prefix, prefix_end(prefix), limit],
                        |r| read_row(id, r),
                    )
                    .map_err(&db)?;
                for row in rows {
                    out.rows.push(row.map_err(&db)??);
                }
            }
        }
    }
    Ok(out)
}

/// One transaction: fences checked per partition, rows upserted in primary-key order.
pub fn write_transaction(
    conn: &mut Connection,
    rows: &[RowWrite],
) -> rusqlite::Result<Vec<WriteOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = vec![WriteOutcome::Applied; rows.len()];
    {
        let mut fences: std::collections::HashMap<Lp, Option<u64>> = Default::default();
        let mut fence_stmt =
            tx.prepare_cached("SELECT epoch FROM partition_fence WHERE grp = ?1 AND lp = ?2")?;
        let mut upsert = tx.prepare_cached(UPSERT)?;
        let mut current = tx.prepare_cached(
            "SELECT source_version, log_pos FROM records \
             WHERE grp = ?1 AND lp = ?2 AND domain = ?3 AND key = ?4",
        )?;
        for i in sorted_order(rows) {
            let RowWrite { row, epoch } = &rows[i];
            let fence = match fences.get(&row.lp) {
                Some(f) => *f,
                None => {
                    let f = fence_stmt
                        .query_row(params![row.lp.group.id(), row.lp.lp], |r| {
                            r.get::<_, i64>(0)
                        })
                        .optional()?
                        .map(to_u64);
                    fences.insert(row.lp, f);
                    f
                }
            };
            if let Some(fence) = fence
                && *epoch < fence
            {
                outcomes[i] = WriteOutcome::Moved { fence };
                continue;
            }
            let changed = upsert.execute(params![
                row.lp.group.id(),
                row.lp.lp,
                row.domain.id(),
                row.key,
                to_i64(row.source_version),
                to_i64(row.log_pos),
                row.deleted,
                row.payload.as_ref(),
                row.updated_at_ms,
            ])?;
            if changed == 0 {
                let (sv, pos): (i64, i64) = current.query_row(
                    params![row.lp.group.id(), row.lp.lp, row.domain.id(), row.key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                outcomes[i] = if (to_u64(sv), to_u64(pos)) == row.order() {
                    WriteOutcome::Unchanged
                } else {
                    WriteOutcome::Stale
                };
            }
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, sv: u64, pos: u64) -> RowWrite {
        RowWrite {
            row: Row {
                lp: Lp {
                    group: Group::Member,
                    lp: 3,
                },
                domain: Domain::Member,
                key: key.into(),
                source_version: sv,
                log_pos: pos,
                deleted: false,
                payload: Bytes::from(format!("{key}@{sv}/{pos}")),
                updated_at_ms: 1,
            },
            epoch: 0,
        }
    }

    #[tokio::test]
    async fn upserts_are_version_guarded_and_fenced() {
        let dir = std::env::temp_dir().join(format!("datahub-sqlite-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let shard = SqliteShard::open(0, &dir.join("s.sqlite"), &ShardOptions::default()).unwrap();
        let out = shard
            .write(vec![row("member:1", 5, 10), row("member:2", 0, 11)])
            .await
            .unwrap();
        assert_eq!(out, vec![WriteOutcome::Applied; 2]);
        let out = shard
            .write(vec![
                row("member:1", 4, 12), // older source version: stale
                row("member:1", 5, 10), // the same: unchanged
                row("member:2", 0, 13), // newer log position: applied
                row("member:1", 6, 9),  // newer source version wins over position
            ])
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                WriteOutcome::Stale,
                WriteOutcome::Unchanged,
                WriteOutcome::Applied,
                WriteOutcome::Applied
            ]
        );
        let lp = Lp {
            group: Group::Member,
            lp: 3,
        };
        let got = shard
            .get(lp, Domain::Member, "member:1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((got.source_version, got.log_pos), (6, 9));
        shard.set_fence(lp, 4).await.unwrap();
        let mut stale_epoch = row("member:3", 1, 20);
        stale_epoch.epoch = 3;
        let mut current_epoch = row("member:4", 1, 21);
        current_epoch.epoch = 4;
        let out = shard.write(vec![stale_epoch, current_epoch]).await.unwrap();
        assert_eq!(
            out,
            vec![WriteOutcome::Moved { fence: 4 }, WriteOutcome::Applied]
        );
        assert_eq!(shard.fence(lp).await.unwrap(), Some(4));
        assert_eq!(shard.count(lp).await.unwrap(), 3);
        let rows = shard
            .scan(lp, Some((Domain::Member, "member:1".into())), 10)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(shard.delete_chunk(lp, 2).await.unwrap(), 2);
        assert_eq!(shard.count(lp).await.unwrap(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_never_pauses_keeps_its_wal_near_the_limit() {
        const LIMIT: u64 = 1 << 20;
        let dir = std::env::temp_dir().join(format!("datahub-sqlite-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let options = ShardOptions {
            durable_commits: false,
            sqlite_wal_limit: LIMIT,
            ..ShardOptions::default()
        };
        let shard = SqliteShard::open(0, &dir.join("s.sqlite"), &options).unwrap();
        let wal = dir.join("s.sqlite-wal");
        let lp = Lp {
            group: Group::Member,
            lp: 3,
        };
        // Readers throughout, as the read path has; four pipelines writing back to back, so
        // the writer always has the next transaction waiting.
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (shard, stop) = (shard.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::Acquire) {
                    shard.get(lp, Domain::Member, "member:7").await.unwrap();
                    reads += 1;
                }
                reads
            })
        };
        let mut writers = Vec::new();
        for w in 0..4u64 {
            let (shard, wal) = (shard.clone(), wal.clone());
            writers.push(tokio::spawn(async move {
                let mut largest = 0;
                for version in 1..=100u64 {
                    let rows = (0..200)
                        .map(|k| {
                            let mut r = row(&format!("member:{}", w * 1000 + k), version, version);
                            r.row.payload = Bytes::from(vec![b'x'; 200]);
                            r
                        })
                        .collect();
                    shard.write(rows).await.unwrap();
                    largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
                }
                largest
            }));
        }
        let mut largest = 0;
        for w in writers {
            largest = largest.max(w.await.unwrap());
        }
        stop.store(true, Ordering::Release);
        let reads = reader.await.unwrap();
        // 400 commits of 200 rows of ~250 B (without the bound the WAL reached 24 MB): it is
        // checkpointed and truncated whenever it passes the limit, so it never holds much more
        // than the limit plus the transactions of one merge (a checkpoint that a reader kept
        // from finishing lets it grow by one more limit before the next try).
        println!("largest WAL {largest} bytes, limit {LIMIT}, {reads} reads beside the writes");
        assert!(
            largest <= 2 * LIMIT,
            "the WAL reached {largest} bytes ({reads} reads beside the writes)"
        );
        assert!(reads > 0);
        // Nothing was lost to the checkpoints.
        assert_eq!(shard.count(lp).await.unwrap(), 800);
        let got = shard
            .get(lp, Domain::Member, "member:3199")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.source_version, 100);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
