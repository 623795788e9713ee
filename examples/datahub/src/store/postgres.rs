//! A shard in one PostgreSQL database (`tokio-postgres` through a `deadpool-postgres` pool).
//!
//! Same semantics as the [SQLite shard](super::sqlite): one transaction per write call, rows
//! sorted by primary key, the version-guarded upsert, fences per logical partition. Rows go
//! to the server as arrays, `options.pg_batch_rows` rows per statement:
//!
//! ```sql
//! INSERT INTO records (grp, lp, domain, key, source_version, log_pos, deleted, payload, updated_at_ms)
//! SELECT * FROM unnest($1::smallint[], $2::int[], …, $9::bigint[])
//! ON CONFLICT (grp, lp, domain, key) DO UPDATE SET …
//! WHERE (excluded.source_version, excluded.log_pos) > (records.source_version, records.log_pos)
//! RETURNING grp, lp, domain, key
//! ```
//!
//! The rows returned were applied; the few that were not are looked up once more (in the
//! same transaction) to tell `Unchanged` (the same version is stored) from `Stale`.
//!
//! **Fences and concurrency.** SQLite has one writer per file, so a fence read inside a
//! write transaction cannot change under it. PostgreSQL runs transactions side by side, and a
//! fence row that does not exist yet cannot be locked with `FOR SHARE`, so the fence of each
//! logical partition is guarded by a transaction-level advisory lock on `(0x4448_0000 | grp,
//! lp)`: a write takes it shared before it reads the fences, `PgShard::set_fence` takes it
//! exclusive. A fence set while a write is running waits for that write's commit, and a write
//! that starts after the fence was set sees it (its fence query takes a snapshot after it got
//! the lock). The key space `(1145569281..=1145569282, 0..1024)` of two-key advisory locks is
//! taken in every shard database.
//!
//! **Durability.** `synchronous_commit` is set per session (a `-c synchronous_commit=on|off`
//! startup option) from [`ShardOptions::durable_commits`].
//!
//! **Errors.** A server that is down, a connection refused, reset or closed, a pool that
//! cannot hand out a connection within 2 s, a server shutting down or starting up: all
//! [`StoreError::Unavailable`] (transient: the listener retries with backoff and the
//! partition stalls). Anything else the server says is [`StoreError::Database`]. Connections
//! that broke are dropped by the pool when they come back (`is_closed`, deadpool's `Fast`
//! recycling), so the pool reconnects once the server is back.
//!
//! Keys are stored as `text COLLATE "C"`: byte order, the order `sorted_order` sorts by (so
//! rows are locked in index order), whatever the database's default collation is.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use super::{
    Fault, PartitionRead, ReadPart, Row, RowWrite, ShardOptions, StoreError, WriteOutcome,
    partition_read_sql, prefix_end, sorted_order,
};
use crate::model::Domain;
use crate::partition::{Group, Lp};

/// How long connecting, or waiting for a pooled connection, may take before the shard counts
/// as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The first key of the advisory lock guarding a partition's fence: `"DH"` and the group.
const FENCE_LOCK_SPACE: i32 = 0x4448_0000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS records (
    grp smallint NOT NULL,
    lp int NOT NULL,
    domain smallint NOT NULL,
    key text COLLATE \"C\" NOT NULL,
    source_version bigint NOT NULL,
    log_pos bigint NOT NULL,
    deleted bool NOT NULL,
    payload bytea NOT NULL,
    updated_at_ms bigint NOT NULL,
    PRIMARY KEY (grp, lp, domain, key)
);
CREATE TABLE IF NOT EXISTS partition_fence (
    grp smallint NOT NULL,
    lp int NOT NULL,
    epoch bigint NOT NULL,
    PRIMARY KEY (grp, lp)
);
";

/// The version-guarded upsert of a batch of rows, as nine arrays.
pub const UPSERT: &str = "
INSERT INTO records (grp, lp, domain, key, source_version, log_pos, deleted, payload, updated_at_ms)
SELECT * FROM unnest($1::smallint[], $2::int[], $3::smallint[], $4::text[], $5::bigint[],
                     $6::bigint[], $7::bool[], $8::bytea[], $9::bigint[])
ON CONFLICT (grp, lp, domain, key) DO UPDATE SET
    source_version = excluded.source_version,
    log_pos = excluded.log_pos,
    deleted = excluded.deleted,
    payload = excluded.payload,
    updated_at_ms = excluded.updated_at_ms
WHERE (excluded.source_version, excluded.log_pos) > (records.source_version, records.log_pos)
RETURNING grp, lp, domain, key";

/// The stored versions of the rows an upsert did not change (by their index in the arrays).
const CURRENT: &str = "
SELECT u.i, r.source_version, r.log_pos
FROM unnest($1::smallint[], $2::int[], $3::smallint[], $4::text[], $5::int[])
    AS u(grp, lp, domain, key, i)
JOIN records r ON r.grp = u.grp AND r.lp = u.lp AND r.domain = u.domain AND r.key = u.key";

/// The stored version of one row.
const CURRENT_VERSION: &str = "SELECT source_version, log_pos FROM records \
     WHERE grp = $1 AND lp = $2 AND domain = $3 AND key = $4";

const LOCK_FENCES_SHARED: &str =
    "SELECT pg_advisory_xact_lock_shared(k1, k2) FROM unnest($1::int[], $2::int[]) AS u(k1, k2)";

const FENCES: &str = "
SELECT f.grp, f.lp, f.epoch FROM partition_fence f
JOIN unnest($1::smallint[], $2::int[]) AS u(grp, lp) ON f.grp = u.grp AND f.lp = u.lp";

const SELECT_ROW: &str = "SELECT grp, lp, domain, key, source_version, log_pos, deleted, payload, updated_at_ms FROM records";

/// A PostgreSQL shard. Cheap to clone.
#[derive(Clone)]
pub struct PgShard {
    inner: Arc<Inner>,
}

struct Inner {
    id: u32,
    /// `host:port/db`, for messages (no password).
    target: String,
    pool: Pool,
    fault: Arc<Fault>,
    batch_rows: usize,
}

impl std::fmt::Debug for PgShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgShard")
            .field("id", &self.inner.id)
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

/// The error and its causes, `: `-separated (tokio-postgres's own message names only the
/// kind: "db error", "error connecting to server").
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

/// True when the error says the server cannot be reached or is going away (or coming up),
/// not that it refused what was asked.
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let code = code.code();
        // Class 08: connection exception. 57P01 admin_shutdown, 57P02 crash_shutdown,
        // 57P03 cannot_connect_now (starting up, shutting down), 53300 too_many_connections.
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    }
    // No server error: an I/O error (refused, reset, broken pipe) or a connect timeout.
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    e.to_string().starts_with("timeout")
}

fn pg_err(shard: u32) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        let reason = describe(&e);
        if is_connection_error(&e) {
            StoreError::Unavailable { shard, reason }
        } else {
            StoreError::Database { shard, reason }
        }
    }
}

fn pool_err(shard: u32) -> impl Fn(PoolError) -> StoreError {
    move |e| match e {
        PoolError::Backend(e) => pg_err(shard)(e),
        PoolError::Timeout(_) => StoreError::Unavailable {
            shard,
            reason: e.to_string(),
        },
        PoolError::Closed => StoreError::Closed(shard),
        other => StoreError::Database {
            shard,
            reason: other.to_string(),
        },
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn lp_i32(lp: Lp) -> i32 {
    i32::try_from(lp.lp).unwrap_or(i32::MAX)
}

fn fence_lock(lp: Lp) -> (i32, i32) {
    (FENCE_LOCK_SPACE | i32::from(lp.group.id()), lp_i32(lp))
}

fn read_row(shard: u32, r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    read_row_at(shard, r, 0)
}

/// A row from the columns starting at `base`.
fn read_row_at(shard: u32, r: &tokio_postgres::Row, base: usize) -> Result<Row, StoreError> {
    let db = pg_err(shard);
    let grp: i16 = r.try_get(base).map_err(&db)?;
    let lp: i32 = r.try_get(base + 1).map_err(&db)?;
    let domain: i16 = r.try_get(base + 2).map_err(&db)?;
    let corrupt = |reason: String| StoreError::Corrupt { shard, reason };
    let group = u8::try_from(grp)
        .ok()
        .and_then(Group::from_id)
        .ok_or_else(|| corrupt(format!("group number {grp}")))?;
    let domain = u8::try_from(domain)
        .ok()
        .and_then(Domain::from_id)
        .ok_or_else(|| corrupt(format!("domain number {domain}")))?;
    let lp = u32::try_from(lp).map_err(|_| corrupt(format!("logical partition {lp}")))?;
    let payload: Vec<u8> = r.try_get(base + 7).map_err(&db)?;
    Ok(Row {
        lp: Lp { group, lp },
        domain,
        key: r.try_get(base + 3).map_err(&db)?,
        source_version: to_u64(r.try_get(base + 4).map_err(&db)?),
        log_pos: to_u64(r.try_get(base + 5).map_err(&db)?),
        deleted: r.try_get(base + 6).map_err(&db)?,
        payload: Bytes::from(payload),
        updated_at_ms: r.try_get(base + 8).map_err(&db)?,
    })
}

/// The connection settings of `url` with the shard's session options.
fn pg_config(id: u32, url: &str, durable: bool) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::BadUrl {
        url: redact(url),
        reason: describe(&e),
    })?;
    let sync = format!(
        "-c synchronous_commit={}",
        if durable { "on" } else { "off" }
    );
    let options = match config.get_options() {
        Some(o) if !o.trim().is_empty() => format!("{o} {sync}"),
        _ => sync,
    };
    config.options(options);
    if config.get_application_name().is_none() {
        config.application_name(format!("datahub-shard-{id}"));
    }
    config.connect_timeout(CONNECT_TIMEOUT);
    // Notice a peer that vanished without closing (a partition, a frozen host) within a
    // minute rather than the kernel's two hours.
    config.keepalives_idle(Duration::from_secs(30));
    Ok(config)
}

/// `url` without its password.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

/// Rows of one upsert statement, as the statement's nine arrays.
#[derive(Default)]
struct Arrays<'a> {
    grp: Vec<i16>,
    lp: Vec<i32>,
    domain: Vec<i16>,
    key: Vec<&'a str>,
    source_version: Vec<i64>,
    log_pos: Vec<i64>,
    deleted: Vec<bool>,
    payload: Vec<&'a [u8]>,
    updated_at_ms: Vec<i64>,
}

impl<'a> Arrays<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            grp: Vec::with_capacity(n),
            lp: Vec::with_capacity(n),
            domain: Vec::with_capacity(n),
            key: Vec::with_capacity(n),
            source_version: Vec::with_capacity(n),
            log_pos: Vec::with_capacity(n),
            deleted: Vec::with_capacity(n),
            payload: Vec::with_capacity(n),
            updated_at_ms: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, row: &'a Row) {
        self.grp.push(i16::from(row.lp.group.id()));
        self.lp.push(lp_i32(row.lp));
        self.domain.push(i16::from(row.domain.id()));
        self.key.push(&row.key);
        self.source_version.push(to_i64(row.source_version));
        self.log_pos.push(to_i64(row.log_pos));
        self.deleted.push(row.deleted);
        self.payload.push(row.payload.as_ref());
        self.updated_at_ms.push(row.updated_at_ms);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.grp,
            &self.lp,
            &self.domain,
            &self.key,
            &self.source_version,
            &self.log_pos,
            &self.deleted,
            &self.payload,
            &self.updated_at_ms,
        ]
    }
}

type PkRef<'a> = (i16, i32, i16, &'a str);

fn pk(row: &Row) -> PkRef<'_> {
    (
        i16::from(row.lp.group.id()),
        lp_i32(row.lp),
        i16::from(row.domain.id()),
        &row.key,
    )
}

/// Splits rows sorted by primary key into the ones an upsert statement may carry (one per
/// key: the greatest `(source_version, log_pos)`, the first of equals) and the others, each
/// with the index of the row that stands for its key. PostgreSQL refuses a statement whose
/// `ON CONFLICT DO UPDATE` would touch the same row twice ("command cannot affect row a
/// second time"), and applying the lesser versions first would be overwritten within the
/// same transaction anyway, so only the greatest is sent; the others are settled from its
/// outcome (see [`settle_shadowed`]).
fn dedupe(rows: &[&Row]) -> (Vec<usize>, Vec<(usize, usize)>) {
    let mut keep: Vec<usize> = Vec::with_capacity(rows.len());
    let mut shadowed = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        match keep.last_mut() {
            Some(last) if pk(rows[*last]) == pk(row) => {
                if row.order() > rows[*last].order() {
                    shadowed.push((*last, i));
                    *last = i;
                } else {
                    shadowed.push((i, *last));
                }
            }
            _ => keep.push(i),
        }
    }
    // A row shadowed by one that was shadowed later points at the key's final winner.
    let winner_of: HashMap<PkRef<'_>, usize> = keep.iter().map(|&k| (pk(rows[k]), k)).collect();
    let shadowed = shadowed
        .into_iter()
        .map(|(loser, _)| (loser, winner_of[&pk(rows[loser])]))
        .collect();
    (keep, shadowed)
}

/// The outcome of a row that was not sent because a greater version of its key was, as
/// SQLite's one-row-at-a-time upsert would have reported it: the rows of the key are applied
/// in order over the version stored before the transaction (`stored`).
fn settle_in_order(stored: Option<(u64, u64)>, earlier: &[&Row], row: &Row) -> WriteOutcome {
    let mut current = stored;
    for r in earlier {
        if current.is_none_or(|c| r.order() > c) {
            current = Some(r.order());
        }
    }
    match current {
        Some(c) if row.order() < c => WriteOutcome::Stale,
        Some(c) if row.order() == c => WriteOutcome::Unchanged,
        _ => WriteOutcome::Applied,
    }
}

/// Upserts `rows` (sorted by primary key, one per key) in statements of `batch` rows inside
/// `tx`; returns the outcome of each (`Applied`, `Unchanged` or `Stale`).
async fn upsert_sorted(
    id: u32,
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[&Row],
    batch: usize,
) -> Result<Vec<WriteOutcome>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let db = pg_err(id);
    let upsert = tx.prepare_cached(UPSERT).await.map_err(&db)?;
    let mut outcomes = vec![WriteOutcome::Applied; rows.len()];
    let mut not_applied: Vec<usize> = Vec::new();
    let mut start = 0;
    for chunk in rows.chunks(batch.max(1)) {
        let mut arrays = Arrays::with_capacity(chunk.len());
        for row in chunk {
            arrays.push(row);
        }
        let returned = tx.query(&upsert, &arrays.params()).await.map_err(&db)?;
        let mut applied: HashSet<(i16, i32, i16, &str)> = HashSet::with_capacity(returned.len());
        for r in &returned {
            applied.insert((
                r.try_get(0).map_err(&db)?,
                r.try_get(1).map_err(&db)?,
                r.try_get(2).map_err(&db)?,
                r.try_get(3).map_err(&db)?,
            ));
        }
        for (offset, row) in chunk.iter().enumerate() {
            if !applied.contains(&pk(row)) {
                not_applied.push(start + offset);
            }
        }
        start += chunk.len();
    }
    if not_applied.is_empty() {
        return Ok(outcomes);
    }
    // Rare (replays, retries, moves): one more query tells the same version from a newer one.
    let mut arrays = Arrays::with_capacity(not_applied.len());
    let mut index: Vec<i32> = Vec::with_capacity(not_applied.len());
    for &i in &not_applied {
        arrays.push(rows[i]);
        index.push(i32::try_from(i).unwrap_or(i32::MAX));
    }
    let current = tx.prepare_cached(CURRENT).await.map_err(&db)?;
    let stored = tx
        .query(
            &current,
            &[&arrays.grp, &arrays.lp, &arrays.domain, &arrays.key, &index],
        )
        .await
        .map_err(&db)?;
    let mut found = 0;
    for r in &stored {
        let i: i32 = r.try_get(0).map_err(&db)?;
        let sv: i64 = r.try_get(1).map_err(&db)?;
        let pos: i64 = r.try_get(2).map_err(&db)?;
        let Some(i) = usize::try_from(i).ok().filter(|&i| i < rows.len()) else {
            continue;
        };
        found += 1;
        outcomes[i] = if (to_u64(sv), to_u64(pos)) == rows[i].order() {
            WriteOutcome::Unchanged
        } else {
            WriteOutcome::Stale
        };
    }
    if found != not_applied.len() {
        // The guard refused a row that is not there: it was deleted between the two
        // statements (a concurrent cleanup). Fail the transaction; a retry writes it.
        return Err(StoreError::Database {
            shard: id,
            reason: "a row the upsert did not change is gone; retry".into(),
        });
    }
    Ok(outcomes)
}

impl PgShard {
    /// Opens shard `id` in the database at `url` (`postgres://user@host:port/db`), creating
    /// its tables when missing.
    pub async fn open(id: u32, url: &str, options: &ShardOptions) -> Result<PgShard, StoreError> {
        let config = pg_config(id, url, options.durable_commits)?;
        let target = target(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pg_pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Database {
                shard: id,
                reason: e.to_string(),
            })?;
        let shard = PgShard {
            inner: Arc::new(Inner {
                id,
                target,
                pool,
                fault: Arc::new(Fault::default()),
                batch_rows: options.pg_batch_rows.max(1),
            }),
        };
        shard.create_schema().await?;
        Ok(shard)
    }

    /// Creates the tables (one process at a time: concurrent `CREATE TABLE IF NOT EXISTS`
    /// can collide in the catalog).
    async fn create_schema(&self) -> Result<(), StoreError> {
        let db = pg_err(self.inner.id);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&db)?;
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&FENCE_LOCK_SPACE])
            .await
            .map_err(&db)?;
        tx.batch_execute(SCHEMA).await.map_err(&db)?;
        tx.commit().await.map_err(&db)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.inner.pool.get().await.map_err(pool_err(self.inner.id))
    }

    /// The shard's id.
    pub fn id(&self) -> u32 {
        self.inner.id
    }

    /// `host:port/database`.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The fault injection handle.
    pub fn fault(&self) -> Arc<Fault> {
        Arc::clone(&self.inner.fault)
    }

    pub(crate) async fn write(&self, rows: Vec<RowWrite>) -> Result<Vec<WriteOutcome>, StoreError> {
        let started = Instant::now();
        let result = self.write_transaction(&rows).await;
        let extra = self.inner.fault.extra(started.elapsed());
        if !extra.is_zero() {
            tokio::time::sleep(extra).await;
        }
        result
    }

    /// One transaction: fences checked per partition (under their advisory locks), rows
    /// upserted in primary-key order.
    async fn write_transaction(&self, rows: &[RowWrite]) -> Result<Vec<WriteOutcome>, StoreError> {
        let id = self.inner.id;
        let db = pg_err(id);
        let order = sorted_order(rows);
        let mut lps: Vec<Lp> = order.iter().map(|&i| rows[i].row.lp).collect();
        lps.dedup();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&db)?;

        let (k1, k2): (Vec<i32>, Vec<i32>) = lps.iter().map(|&lp| fence_lock(lp)).unzip();
        let lock = tx.prepare_cached(LOCK_FENCES_SHARED).await.map_err(&db)?;
        tx.execute(&lock, &[&k1, &k2]).await.map_err(&db)?;
        let grps: Vec<i16> = lps.iter().map(|lp| i16::from(lp.group.id())).collect();
        let nums: Vec<i32> = lps.iter().map(|&lp| lp_i32(lp)).collect();
        let fences_stmt = tx.prepare_cached(FENCES).await.map_err(&db)?;
        let mut fences: HashMap<(i16, i32), u64> = HashMap::new();
        for r in tx.query(&fences_stmt, &[&grps, &nums]).await.map_err(&db)? {
            fences.insert(
                (r.try_get(0).map_err(&db)?, r.try_get(1).map_err(&db)?),
                to_u64(r.try_get(2).map_err(&db)?),
            );
        }

        let mut outcomes = vec![WriteOutcome::Applied; rows.len()];
        let mut todo: Vec<usize> = Vec::with_capacity(rows.len());
        for i in order {
            let RowWrite { row, epoch } = &rows[i];
            match fences.get(&(i16::from(row.lp.group.id()), lp_i32(row.lp))) {
                Some(&fence) if *epoch < fence => outcomes[i] = WriteOutcome::Moved { fence },
                _ => todo.push(i),
            }
        }
        let sorted: Vec<&Row> = todo.iter().map(|&i| &rows[i].row).collect();
        let (keep, shadowed) = dedupe(&sorted);
        // The stored versions of keys with several rows here, read before the upsert (under
        // the same fence lock), to settle the rows not sent.
        let mut stored: HashMap<PkRef<'_>, Option<(u64, u64)>> = HashMap::new();
        if !shadowed.is_empty() {
            let current = tx.prepare_cached(CURRENT_VERSION).await.map_err(&db)?;
            for (loser, _) in &shadowed {
                let key = pk(sorted[*loser]);
                if stored.contains_key(&key) {
                    continue;
                }
                let found = tx
                    .query_opt(&current, &[&key.0, &key.1, &key.2, &key.3])
                    .await
                    .map_err(&db)?
                    .map(|r| -> Result<(u64, u64), StoreError> {
                        Ok((
                            to_u64(r.try_get(0).map_err(&db)?),
                            to_u64(r.try_get(1).map_err(&db)?),
                        ))
                    })
                    .transpose()?;
                stored.insert(key, found);
            }
        }
        let sent: Vec<&Row> = keep.iter().map(|&k| sorted[k]).collect();
        let sent_outcomes = upsert_sorted(id, &tx, &sent, self.inner.batch_rows).await?;
        tx.commit().await.map_err(&db)?;

        for (k, outcome) in keep.iter().zip(sent_outcomes) {
            outcomes[todo[*k]] = outcome;
        }
        for (loser, _) in shadowed {
            let key = pk(sorted[loser]);
            // The rows of the key before this one, in order (sorting kept log order).
            let earlier: Vec<&Row> = sorted[..loser]
                .iter()
                .copied()
                .filter(|r| pk(r) == key)
                .collect();
            let before = stored.get(&key).copied().flatten();
            outcomes[todo[loser]] = settle_in_order(before, &earlier, sorted[loser]);
        }
        Ok(outcomes)
    }

    pub(crate) async fn get(
        &self,
        lp: Lp,
        domain: Domain,
        key: &str,
    ) -> Result<Option<Row>, StoreError> {
        let id = self.inner.id;
        let db = pg_err(id);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{SELECT_ROW} WHERE grp = $1 AND lp = $2 AND domain = $3 AND key = $4"
            ))
            .await
            .map_err(&db)?;
        let row = client
            .query_opt(
                &stmt,
                &[
                    &i16::from(lp.group.id()),
                    &lp_i32(lp),
                    &i16::from(domain.id()),
                    &key,
                ],
            )
            .await
            .map_err(&db)?;
        row.map(|r| read_row(id, &r)).transpose()
    }

    pub(crate) async fn read_partition(
        &self,
        lp: Lp,
        parts: Vec<ReadPart>,
    ) -> Result<PartitionRead, StoreError> {
        use tokio_postgres::types::ToSql;
        let id = self.inner.id;
        let db = pg_err(id);
        let client = self.client().await?;
        let sql = partition_read_sql(&parts, |n| format!("${n}"));
        let stmt = client.prepare_cached(&sql).await.map_err(&db)?;
        let (grp, num) = (i16::from(lp.group.id()), lp_i32(lp));
        let mut values: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(grp), Box::new(num)];
        for part in &parts {
            match part {
                ReadPart::Key(domain, key) => {
                    values.push(Box::new(i16::from(domain.id())));
                    values.push(Box::new(key.clone()));
                }
                ReadPart::Prefix {
                    domain,
                    prefix,
                    limit,
                } => {
                    values.push(Box::new(i16::from(domain.id())));
                    values.push(Box::new(prefix.clone()));
                    values.push(Box::new(prefix_end(prefix)));
                    values.push(Box::new(i64::from(*limit)));
                }
            }
        }
        let params: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let mut out = PartitionRead::default();
        for r in client.query(&stmt, &params).await.map_err(&db)? {
            out.fence = r.try_get::<_, Option<i64>>(0).map_err(&db)?.map(to_u64);
            if r.try_get::<_, Option<i16>>(1).map_err(&db)?.is_some() {
                out.rows.push(read_row_at(id, &r, 1)?);
            }
        }
        Ok(out)
    }

    pub(crate) async fn scan(
        &self,
        lp: Lp,
        after: Option<(Domain, String)>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError> {
        let id = self.inner.id;
        let db = pg_err(id);
        let (d, k) = after.map_or((-1i16, String::new()), |(d, k)| (i16::from(d.id()), k));
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{SELECT_ROW} WHERE grp = $1 AND lp = $2 AND (domain, key) > ($3::smallint, $4::text) \
                 ORDER BY domain, key LIMIT $5"
            ))
            .await
            .map_err(&db)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &i16::from(lp.group.id()),
                    &lp_i32(lp),
                    &d,
                    &k,
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(&db)?;
        rows.iter().map(|r| read_row(id, r)).collect()
    }

    /// The rows of `lp` written at or after `since_ms` (tombstones included), in
    /// primary-key order: one range scan of the partition, filtered on the server.
    pub async fn changed_since(&self, lp: Lp, since_ms: i64) -> Result<Vec<Row>, StoreError> {
        let id = self.inner.id;
        let db = pg_err(id);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "{SELECT_ROW} WHERE grp = $1 AND lp = $2 AND updated_at_ms >= $3 \
                 ORDER BY domain, key"
            ))
            .await
            .map_err(&db)?;
        let rows = client
            .query(&stmt, &[&i16::from(lp.group.id()), &lp_i32(lp), &since_ms])
            .await
            .map_err(&db)?;
        rows.iter().map(|r| read_row(id, r)).collect()
    }

    pub(crate) async fn set_fence(&self, lp: Lp, epoch: u64) -> Result<(), StoreError> {
        let db = pg_err(self.inner.id);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&db)?;
        let (k1, k2) = fence_lock(lp);
        tx.execute("SELECT pg_advisory_xact_lock($1, $2)", &[&k1, &k2])
            .await
            .map_err(&db)?;
        tx.execute(
            "INSERT INTO partition_fence (grp, lp, epoch) VALUES ($1, $2, $3) \
             ON CONFLICT (grp, lp) DO UPDATE \
             SET epoch = GREATEST(partition_fence.epoch, excluded.epoch)",
            &[&i16::from(lp.group.id()), &lp_i32(lp), &to_i64(epoch)],
        )
        .await
        .map_err(&db)?;
        tx.commit().await.map_err(&db)
    }

    pub(crate) async fn fence(&self, lp: Lp) -> Result<Option<u64>, StoreError> {
        let db = pg_err(self.inner.id);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT epoch FROM partition_fence WHERE grp = $1 AND lp = $2")
            .await
            .map_err(&db)?;
        let row = client
            .query_opt(&stmt, &[&i16::from(lp.group.id()), &lp_i32(lp)])
            .await
            .map_err(&db)?;
        row.map(|r| r.try_get::<_, i64>(0).map(to_u64).map_err(&db))
            .transpose()
    }

    pub(crate) async fn delete_chunk(&self, lp: Lp, limit: usize) -> Result<usize, StoreError> {
        let db = pg_err(self.inner.id);
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM records WHERE (grp, lp, domain, key) IN \
                 (SELECT grp, lp, domain, key FROM records WHERE grp = $1 AND lp = $2 LIMIT $3)",
                &[
                    &i16::from(lp.group.id()),
                    &lp_i32(lp),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(&db)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) async fn count(&self, lp: Lp) -> Result<u64, StoreError> {
        let db = pg_err(self.inner.id);
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM records WHERE grp = $1 AND lp = $2",
                &[&i16::from(lp.group.id()), &lp_i32(lp)],
            )
            .await
            .map_err(&db)?;
        row.try_get::<_, i64>(0).map(to_u64).map_err(&db)
    }
}

/// For benchmarks: upserts `rows` into the database at `url` with the shard's guarded
/// `unnest` statement, `batch` rows per statement and one transaction per statement, on one
/// fresh connection (created, with the tables, before the clock starts), with the server's
/// own `synchronous_commit`. No fences, no pool, no outcome checks: the floor under what a
/// shard write costs. Keys that repeat within a statement are sent once (the greatest
/// version), as [`PgShard`] does. Errors name shard 0.
pub async fn bare_unnest_upserts(
    url: &str,
    rows: &[Row],
    batch: usize,
) -> Result<Duration, StoreError> {
    let db = pg_err(0);
    let config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::BadUrl {
        url: redact(url),
        reason: describe(&e),
    })?;
    let (client, connection) = config.connect(NoTls).await.map_err(&db)?;
    let driver = tokio::spawn(connection);
    let result = async {
        client.batch_execute(SCHEMA).await.map_err(&db)?;
        let upsert = client.prepare(UPSERT).await.map_err(&db)?;
        let started = Instant::now();
        for chunk in rows.chunks(batch.max(1)) {
            let mut refs: Vec<&Row> = chunk.iter().collect();
            refs.sort_by(|a, b| (a.lp, a.domain.id(), &a.key).cmp(&(b.lp, b.domain.id(), &b.key)));
            let (keep, _) = dedupe(&refs);
            let mut arrays = Arrays::with_capacity(keep.len());
            for k in keep {
                arrays.push(refs[k]);
            }
            client.batch_execute("BEGIN").await.map_err(&db)?;
            client.query(&upsert, &arrays.params()).await.map_err(&db)?;
            client.batch_execute("COMMIT").await.map_err(&db)?;
        }
        Ok(started.elapsed())
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::postgres::Cluster;

    fn lp() -> Lp {
        Lp {
            group: Group::Member,
            lp: 3,
        }
    }

    fn row(key: &str, sv: u64, pos: u64) -> RowWrite {
        RowWrite {
            row: Row {
                lp: lp(),
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

    fn at_epoch(mut w: RowWrite, epoch: u64) -> RowWrite {
        w.epoch = epoch;
        w
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upserts_are_version_guarded_fenced_and_survive_a_restart() {
        let cluster = Cluster::start().expect("a PostgreSQL cluster starts");
        let url = cluster.create_database("shard").expect("createdb");
        let options = ShardOptions {
            pg_batch_rows: 2,
            ..ShardOptions::default()
        };
        let shard = PgShard::open(0, &url, &options).await.unwrap();
        // Opening again (another process) finds the tables.
        PgShard::open(1, &url, &options).await.unwrap();

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
                WriteOutcome::Unchanged, // the stored version (then replaced by 6/9)
                WriteOutcome::Applied,
                WriteOutcome::Applied
            ]
        );
        let got = shard
            .get(lp(), Domain::Member, "member:1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((got.source_version, got.log_pos), (6, 9));
        assert_eq!(got.payload, Bytes::from("member:1@6/9"));

        // The same key several times in one call (only its greatest version is sent, so no
        // statement touches a row twice), the same version twice, a replay of what is
        // stored, and more rows than one statement takes (2 here).
        let out = shard
            .write(vec![
                row("member:5", 1, 30),
                row("member:5", 3, 32),
                row("member:5", 2, 31),
                row("member:5", 3, 32),
                row("member:1", 6, 9),
                row("member:6", 1, 33),
            ])
            .await
            .unwrap();
        // As SQLite reports them (one row after the other): 1/30 applied, then 3/32
        // applied, 2/31 stale, 3/32 again unchanged.
        assert_eq!(
            out,
            vec![
                WriteOutcome::Applied,
                WriteOutcome::Applied,
                WriteOutcome::Stale,
                WriteOutcome::Unchanged,
                WriteOutcome::Unchanged,
                WriteOutcome::Applied,
            ]
        );
        let got = shard
            .get(lp(), Domain::Member, "member:5")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.order(), (3, 32));

        shard.set_fence(lp(), 4).await.unwrap();
        shard.set_fence(lp(), 2).await.unwrap(); // never lowered
        let mut stale_epoch = row("member:3", 1, 20);
        stale_epoch.epoch = 3;
        let mut current_epoch = row("member:4", 1, 21);
        current_epoch.epoch = 4;
        let out = shard.write(vec![stale_epoch, current_epoch]).await.unwrap();
        assert_eq!(
            out,
            vec![WriteOutcome::Moved { fence: 4 }, WriteOutcome::Applied]
        );
        assert_eq!(shard.fence(lp()).await.unwrap(), Some(4));
        assert_eq!(
            shard
                .fence(Lp {
                    group: Group::Seller,
                    lp: 3
                })
                .await
                .unwrap(),
            None
        );
        assert_eq!(shard.count(lp()).await.unwrap(), 5);
        let rows = shard
            .scan(lp(), Some((Domain::Member, "member:1".into())), 10)
            .await
            .unwrap();
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["member:2", "member:4", "member:5", "member:6"]);
        let as_shard = super::super::Shard::Postgres(shard.clone());
        assert_eq!(as_shard.rows(lp()).await.unwrap().len(), 5);
        assert_eq!(as_shard.checksum(lp()).await.unwrap().total(), 5);
        let changed = shard.changed_since(lp(), 1).await.unwrap();
        assert_eq!(changed.len(), 5);
        assert!(shard.changed_since(lp(), 2).await.unwrap().is_empty());
        assert_eq!(shard.delete_chunk(lp(), 2).await.unwrap(), 2);
        assert_eq!(shard.count(lp()).await.unwrap(), 3);

        // The server goes away: writes fail as unavailable, quickly.
        cluster.stop().unwrap();
        let started = Instant::now();
        let err = shard
            .write(vec![at_epoch(row("member:7", 1, 40), 4)])
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        let err = shard
            .get(lp(), Domain::Member, "member:7")
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");

        // It comes back: the pool reconnects and writes succeed again.
        cluster.start_again().unwrap();
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            match shard.write(vec![at_epoch(row("member:7", 1, 40), 4)]).await {
                Ok(out) => break out,
                Err(e) if e.is_transient() && attempts < 20 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("after a restart: {e}"),
            }
        };
        assert_eq!(out, vec![WriteOutcome::Applied]);
        assert!(attempts <= 2, "{attempts} attempts after a restart");
        for i in 0..8 {
            shard
                .write(vec![at_epoch(
                    row(&format!("member:{}", 100 + i), 1, 50),
                    4,
                )])
                .await
                .unwrap();
        }
        assert_eq!(shard.count(lp()).await.unwrap(), 12);

        // A wrong database is an error, not an outage.
        let err = PgShard::open(2, &cluster.url("no_such_db"), &options)
            .await
            .unwrap_err();
        assert!(!err.is_transient(), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_is_down_is_unavailable() {
        let port = crate::testing::free_port().unwrap();
        let url = format!("postgres://hub@127.0.0.1:{port}/x");
        let err = PgShard::open(0, &url, &ShardOptions::default())
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bare_upserts_write_every_row() {
        let cluster = Cluster::start().expect("a PostgreSQL cluster starts");
        let url = cluster.create_database("bench").expect("createdb");
        let rows: Vec<Row> = (0..2500)
            .map(|i| row(&format!("member:{}", i % 2000), 1 + i / 2000, i).row)
            .collect();
        let took = bare_unnest_upserts(&url, &rows, 1000).await.unwrap();
        assert!(took > Duration::ZERO);
        let shard = PgShard::open(0, &url, &ShardOptions::default())
            .await
            .unwrap();
        assert_eq!(shard.count(lp()).await.unwrap(), 2000);
        let got = shard
            .get(lp(), Domain::Member, "member:7")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.order(), (2, 2007));

        // Side by side, on fresh keys: the same rows through the shard (fences, outcomes, the
        // pool), 1000 rows per write call. Figures only; nothing is asserted about speed.
        let fresh = |base: u64| -> Vec<Row> {
            (0..20_000)
                .map(|i| row(&format!("member:{}", base + i), 1, i).row)
                .collect()
        };
        let bare_rows = fresh(100_000);
        let bare = bare_unnest_upserts(&url, &bare_rows, 1000).await.unwrap();
        let shard_rows = fresh(200_000);
        let started = Instant::now();
        for chunk in shard_rows.chunks(1000) {
            let writes = chunk
                .iter()
                .map(|r| RowWrite {
                    row: r.clone(),
                    epoch: 0,
                })
                .collect();
            let out = shard.write(writes).await.unwrap();
            assert!(out.iter().all(|o| *o == WriteOutcome::Applied));
        }
        let through_shard = started.elapsed();
        let rate = |d: Duration| 20_000.0 / d.as_secs_f64().max(1e-9);
        println!(
            "20k upserts, 1000 per transaction: bare unnest {:.0} rows/s, PgShard::write {:.0} rows/s",
            rate(bare),
            rate(through_shard)
        );
        assert_eq!(shard.count(lp()).await.unwrap(), 42_000);
    }
}
