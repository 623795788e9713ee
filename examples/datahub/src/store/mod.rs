//! Shards: where processed rows live, one logical partition's rows together.
//!
//! Every write is a **version-guarded upsert**: a row is replaced only by one with a higher
//! `(source_version, log_pos)`, so a row never goes backwards, and replaying, re-copying or
//! retrying a write is harmless. Deletes are versioned tombstones (`deleted = true`), so a
//! copy or a replay cannot bring a deleted row back. A shard also keeps a **fence** per
//! logical partition it has handed to another shard: writes routed by an older directory
//! epoch are refused with [`WriteOutcome::Moved`].
//!
//! ```sql
//! records(grp, lp, domain, key, source_version, log_pos, deleted, payload, updated_at_ms,
//!         PRIMARY KEY (grp, lp, domain, key))   -- a partition's rows are contiguous
//! partition_fence(grp, lp, epoch, PRIMARY KEY (grp, lp))
//! ```
//!
//! | file | back end |
//! |---|---|
//! | [`sqlite`] | one SQLite file per shard (the embedded default) |
//! | `postgres` | one PostgreSQL database per shard (feature `postgres`) |

pub mod checksum;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod set;
pub mod sqlite;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::model::Domain;
use crate::partition::Lp;

pub use self::checksum::{BUCKETS, BucketSums};
pub use self::set::ShardSet;
pub use self::sqlite::SqliteShard;

/// One stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its logical partition (group and number).
    pub lp: Lp,
    /// Its domain.
    pub domain: Domain,
    /// Its key (`member:42`).
    pub key: String,
    /// The producer's version (0 when it gave none).
    pub source_version: u64,
    /// The offset of the event in its log partition.
    pub log_pos: u64,
    /// A tombstone.
    pub deleted: bool,
    /// The encoded row (protobuf of the domain's row type).
    pub payload: Bytes,
    /// When it was last written (Unix milliseconds).
    pub updated_at_ms: i64,
}

impl Row {
    /// The version readers see and pass back as `min_version`: the source version when the
    /// producer gave one, else the log offset.
    pub fn version(&self) -> u64 {
        if self.source_version > 0 {
            self.source_version
        } else {
            self.log_pos
        }
    }

    /// The guard's order: a write wins only with a greater pair.
    pub fn order(&self) -> (u64, u64) {
        (self.source_version, self.log_pos)
    }
}

/// A row to write, with the directory epoch it was routed by.
#[derive(Debug, Clone)]
pub struct RowWrite {
    /// The row.
    pub row: Row,
    /// The partition's placement epoch the writer routed by: a shard that fenced the
    /// partition at a later epoch refuses the write.
    pub epoch: u64,
}

/// What a write did to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Inserted or replaced.
    Applied,
    /// The same version was already stored (a replay or a retry).
    Unchanged,
    /// A newer version is stored; nothing changed.
    Stale,
    /// The shard handed this partition to another at epoch `fence`; route again.
    Moved {
        /// The fence epoch.
        fence: u64,
    },
}

/// What can go wrong with a shard.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed.
    #[error("shard {shard}: {reason}")]
    Database {
        /// The shard.
        shard: u32,
        /// What it said.
        reason: String,
    },
    /// The shard cannot be reached now (its server is down); the write can be retried.
    #[error("shard {shard} is unavailable: {reason}")]
    Unavailable {
        /// The shard.
        shard: u32,
        /// Why.
        reason: String,
    },
    /// A stored row cannot be read back (an unknown domain or group number).
    #[error("shard {shard}: corrupt row: {reason}")]
    Corrupt {
        /// The shard.
        shard: u32,
        /// What is wrong.
        reason: String,
    },
    /// The shard's URL cannot be used.
    #[error("shard URL `{url}`: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The shard was closed.
    #[error("shard {0} is closed")]
    Closed(u32),
}

impl StoreError {
    /// True when waiting and retrying may succeed (the shard is down, not wrong).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// Fault injection for tests and demos: makes a shard's writes slower by a factor, the way a
/// degraded disk or an overloaded database would.
#[derive(Debug, Default)]
pub struct Fault {
    slow_factor: AtomicU32,
    until_ms: AtomicU64,
}

impl Fault {
    /// Every write transaction takes `factor` times as long, until `duration` has passed.
    pub fn slow_down(&self, factor: u32, duration: Duration) {
        let until = crate::clock::now_ms()
            .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        self.until_ms
            .store(u64::try_from(until).unwrap_or(0), Ordering::Release);
        self.slow_factor.store(factor, Ordering::Release);
    }

    /// The extra time a write that took `took` must wait now.
    pub fn extra(&self, took: Duration) -> Duration {
        let factor = self.slow_factor.load(Ordering::Acquire);
        if factor <= 1 {
            return Duration::ZERO;
        }
        let now = u64::try_from(crate::clock::now_ms()).unwrap_or(0);
        if now >= self.until_ms.load(Ordering::Acquire) {
            self.slow_factor.store(1, Ordering::Release);
            return Duration::ZERO;
        }
        took * (factor - 1)
    }
}

/// One shard, whichever the back end.
#[derive(Debug, Clone)]
pub enum Shard {
    /// A SQLite file.
    Sqlite(SqliteShard),
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgShard),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Shard::Sqlite($s) => $e,
            #[cfg(feature = "postgres")]
            Shard::Postgres($s) => $e,
        }
    };
}

impl Shard {
    /// Opens shard `id` from its URL: `sqlite:PATH` or `postgres://…` (feature `postgres`).
    pub async fn open(id: u32, url: &str, options: &ShardOptions) -> Result<Shard, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = std::path::PathBuf::from(path);
            let options = options.clone();
            return tokio::task::spawn_blocking(move || SqliteShard::open(id, &path, &options))
                .await
                .map_err(|e| StoreError::Database {
                    shard: id,
                    reason: e.to_string(),
                })?
                .map(Shard::Sqlite);
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return postgres::PgShard::open(id, url, options)
                .await
                .map(Shard::Postgres);
        }
        Err(StoreError::BadUrl {
            url: url.to_owned(),
            reason: if url.starts_with("postgres") {
                "PostgreSQL shards need the `postgres` feature".into()
            } else {
                "expected sqlite:PATH or postgres://…".into()
            },
        })
    }

    /// The shard's id.
    pub fn id(&self) -> u32 {
        dispatch!(self, s => s.id())
    }

    /// The shard's fault injection.
    pub fn fault(&self) -> Arc<Fault> {
        dispatch!(self, s => s.fault())
    }

    /// Writes `rows` in one transaction (sorted by primary key) and says what happened to
    /// each, in order.
    pub async fn write(&self, rows: Vec<RowWrite>) -> Result<Vec<WriteOutcome>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, s => s.write(rows).await)
    }

    /// One row, tombstones included.
    pub async fn get(&self, lp: Lp, domain: Domain, key: &str) -> Result<Option<Row>, StoreError> {
        dispatch!(self, s => s.get(lp, domain, key).await)
    }

    /// Several rows of one partition (exact keys and key ranges) and the partition's fence,
    /// in one statement: one round trip and one snapshot. A screen's read of one owner.
    pub async fn read_partition(
        &self,
        lp: Lp,
        parts: Vec<ReadPart>,
    ) -> Result<PartitionRead, StoreError> {
        dispatch!(self, s => s.read_partition(lp, parts).await)
    }

    /// Up to `limit` rows of `lp` after `after` (in primary-key order).
    pub async fn scan(
        &self,
        lp: Lp,
        after: Option<(Domain, String)>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        dispatch!(self, s => s.scan(lp, after, limit).await)
    }

    /// The rows of `lp` written at or after `since_ms` (tombstones included).
    pub async fn changed_since(&self, lp: Lp, since_ms: i64) -> Result<Vec<Row>, StoreError> {
        match self {
            Shard::Sqlite(s) => s.changed_since(lp, since_ms).await,
            #[cfg(feature = "postgres")]
            Shard::Postgres(s) => s.changed_since(lp, since_ms).await,
        }
    }

    /// Sets the fence of `lp` to `epoch` (writes routed by an older epoch are refused).
    pub async fn set_fence(&self, lp: Lp, epoch: u64) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_fence(lp, epoch).await)
    }

    /// The fence of `lp`, if any.
    pub async fn fence(&self, lp: Lp) -> Result<Option<u64>, StoreError> {
        dispatch!(self, s => s.fence(lp).await)
    }

    /// Deletes up to `limit` rows of `lp`; returns how many went.
    pub async fn delete_chunk(&self, lp: Lp, limit: usize) -> Result<usize, StoreError> {
        dispatch!(self, s => s.delete_chunk(lp, limit).await)
    }

    /// Rows of `lp`, counted.
    pub async fn count(&self, lp: Lp) -> Result<u64, StoreError> {
        dispatch!(self, s => s.count(lp).await)
    }

    /// The checksums of `lp` by bucket (reads the partition in chunks).
    pub async fn checksum(&self, lp: Lp) -> Result<BucketSums, StoreError> {
        let mut sums = BucketSums::default();
        let mut after = None;
        loop {
            let rows = self.scan(lp, after.clone(), 5000).await?;
            let Some(last) = rows.last() else {
                return Ok(sums);
            };
            after = Some((last.domain, last.key.clone()));
            for row in &rows {
                sums.add(row);
            }
            if rows.len() < 5000 {
                return Ok(sums);
            }
        }
    }

    /// Every row of `lp` (tests and checks; use [`scan`](Self::scan) for large partitions).
    pub async fn rows(&self, lp: Lp) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let rows = self.scan(lp, after.clone(), 5000).await?;
            let n = rows.len();
            if let Some(last) = rows.last() {
                after = Some((last.domain, last.key.clone()));
            }
            out.extend(rows);
            if n < 5000 {
                return Ok(out);
            }
        }
    }
}

/// Reads the current row of `key` where the directory places it now. A read is checked
/// against the shard's fence after it ran: if the partition moved away at a newer epoch than
/// the one routed by, the read may be stale, so the directory is read again and the row read
/// from the new shard. A row returned was current when it was read.
pub async fn read_current(
    shards: &ShardSet,
    lp: Lp,
    domain: Domain,
    key: &str,
) -> Result<Option<Row>, StoreError> {
    for _ in 0..20 {
        let snapshot = shards.directory().snapshot();
        let placement = snapshot.placement(lp);
        let shard = shards.get(placement.shard).await?;
        let row = shard.get(lp, domain, key).await?;
        match shard.fence(lp).await? {
            Some(fence) if fence > placement.epoch => {
                let _ = shards.directory().refresh().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            _ => return Ok(row),
        }
    }
    Err(StoreError::Unavailable {
        shard: shards.directory().snapshot().placement(lp).shard,
        reason: format!("{lp} kept moving while being read"),
    })
}

/// One part of a [`Shard::read_partition`]: an exact key (tombstone included), or the last
/// `limit` live rows under a prefix (in descending key order: the newest history entries,
/// the highest ids; tombstones are skipped, so deleted rows never crowd out live ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadPart {
    /// The row of one key.
    Key(Domain, String),
    /// The last `limit` rows whose key starts with `prefix`.
    Prefix {
        /// Their domain.
        domain: Domain,
        /// The key prefix (`benefits:42:`).
        prefix: String,
        /// At most this many.
        limit: u32,
    },
}

/// What one [`Shard::read_partition`] saw, in one snapshot: the rows, and the partition's
/// fence at that moment (a fence newer than the epoch routed by means the rows may be stale).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionRead {
    /// The rows found, tombstones included, in the order of the parts.
    pub rows: Vec<Row>,
    /// The partition's fence epoch, if the shard has handed it away.
    pub fence: Option<u64>,
}

/// The SQL of a partition read with `parts` on PostgreSQL: the fence and every part in one
/// statement, so both come from one snapshot and one round trip. `p(n)` writes the n-th
/// placeholder (`$n`); parameters are grp, lp, then per part its domain and key (or domain,
/// from, to, limit). (SQLite re-prepared this statement at every step; it reads the parts in
/// one read transaction instead.)
#[cfg(feature = "postgres")]
pub(crate) fn partition_read_sql(parts: &[ReadPart], p: fn(usize) -> String) -> String {
    use std::fmt::Write;
    const COLS: &str =
        "grp, lp, domain, key, source_version, log_pos, deleted, payload, updated_at_ms";
    let mut n = 2;
    let mut next = || {
        n += 1;
        p(n)
    };
    let (grp, lp) = (p(1), p(2));
    let mut union = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            union.push_str(" UNION ALL ");
        }
        let where_ = format!("grp = {grp} AND lp = {lp} AND domain = {}", next());
        let _ = match part {
            ReadPart::Key(..) => write!(
                union,
                "SELECT * FROM (SELECT {i} AS part, {COLS} FROM records WHERE {where_} \
                 AND key = {}) AS q{i}",
                next()
            ),
            ReadPart::Prefix { .. } => {
                let (from, to, limit) = (next(), next(), next());
                write!(
                    union,
                    "SELECT * FROM (SELECT {i} AS part, {COLS} FROM records WHERE {where_} \
                     AND key >= {from} AND key < {to} AND NOT deleted ORDER BY key DESC \
                     LIMIT {limit}) AS q{i}"
                )
            }
        };
    }
    // A union keeps no order of its own: the parts' order, and each range's, are asked for.
    format!(
        "SELECT f.epoch, r.grp, r.lp, r.domain, r.key, r.source_version, r.log_pos, r.deleted, \
         r.payload, r.updated_at_ms FROM (SELECT (SELECT epoch FROM partition_fence \
         WHERE grp = {grp} AND lp = {lp}) AS epoch) AS f LEFT JOIN ({union}) AS r ON 1 = 1 \
         ORDER BY r.part, r.key DESC"
    )
}

/// The first string after every string that starts with `prefix` (its last byte plus one;
/// keys are ASCII).
pub(crate) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0x7f {
            end.push(last + 1);
            break;
        }
    }
    String::from_utf8(end).unwrap_or_default()
}

/// How shards are opened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShardOptions {
    /// `fdatasync` every commit (SQLite `synchronous=FULL`; PostgreSQL
    /// `synchronous_commit=on`). Default on: offsets are committed after the shard commits,
    /// so a shard commit lost to a power failure after its offset was recorded would lose
    /// events. Off trades that for speed (a process crash still loses nothing).
    pub durable_commits: bool,
    /// Rows per upsert statement on PostgreSQL (`unnest` arrays). Default 1000.
    pub pg_batch_rows: usize,
    /// Connections per PostgreSQL shard. Default 4.
    pub pg_pool_size: usize,
    /// The size of a SQLite shard's WAL file past which its writer checkpoints and truncates
    /// it. Default [`sqlite::WAL_LIMIT`] (64 MiB, about a second of writes at full speed).
    pub sqlite_wal_limit: u64,
}

impl Default for ShardOptions {
    fn default() -> Self {
        Self {
            durable_commits: true,
            pg_batch_rows: 1000,
            pg_pool_size: 4,
            sqlite_wal_limit: sqlite::WAL_LIMIT,
        }
    }
}

/// Sorts writes by primary key (key locality made SQLite 4–15× faster in measurements),
/// keeping the original order among equal keys; returns the permutation.
pub(crate) fn sorted_order(rows: &[RowWrite]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a].row, &rows[b].row);
        (ra.lp, ra.domain.id(), &ra.key).cmp(&(rb.lp, rb.domain.id(), &rb.key))
    });
    order
}
