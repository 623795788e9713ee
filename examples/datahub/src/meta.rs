//! The `meta` SQLite file of a hub process: the directory document (when the directory is
//! embedded), committed log offsets (embedded log), the dead-letter table, and the listener
//! status other processes read (lag, pauses, concurrency).
//!
//! Offsets are written after the shards commit, with `synchronous=NORMAL`: losing the last
//! offset commit to a power failure only makes the listener apply a batch again, which the
//! version guard makes harmless.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::partition::{Group, LogPartition};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS directory (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS offsets (
    grp INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grp INTEGER NOT NULL,
    partition INTEGER NOT NULL,
    log_offset INTEGER NOT NULL,
    event_id TEXT,
    reason TEXT NOT NULL,
    raw BLOB NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS listener_status (
    listener TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
";

/// What can go wrong with the meta file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("meta database {path}: {reason}")]
pub struct MetaError {
    /// The file.
    pub path: PathBuf,
    /// What SQLite said.
    pub reason: String,
}

/// One dead letter: an event the listener could not take, with the reason and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where it was read.
    pub partition: LogPartition,
    /// At which offset.
    pub offset: u64,
    /// Its id, when it could be decoded that far.
    pub event_id: Option<String>,
    /// Why it was refused.
    pub reason: String,
    /// The record's value as read.
    pub raw: Vec<u8>,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// The meta file. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetaDb {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl MetaDb {
    /// Opens (or creates) the file.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let err = |e: rusqlite::Error| MetaError {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| MetaError {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection on a blocking thread.
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, MetaError> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.with_blocking(f))
            .await
            .map_err(|e| MetaError {
                path: self.path.clone(),
                reason: e.to_string(),
            })?
    }

    /// Runs `f` on the connection on this thread.
    pub fn with_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, MetaError> {
        let mut conn = self.conn.lock().map_err(|_| MetaError {
            path: self.path.clone(),
            reason: "a thread panicked while using the connection".into(),
        })?;
        f(&mut conn).map_err(|e| MetaError {
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// The directory document and its version.
    pub async fn directory(&self) -> Result<Option<(u64, String)>, MetaError> {
        self.with(|c| {
            c.query_row("SELECT version, doc FROM directory WHERE id = 1", [], |r| {
                Ok((to_u64(r.get(0)?), r.get(1)?))
            })
            .optional()
        })
        .await
    }

    /// The directory document's version only (cheap, for polling).
    pub async fn directory_version(&self) -> Result<Option<u64>, MetaError> {
        self.with(|c| {
            c.query_row("SELECT version FROM directory WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map(|v| v.map(to_u64))
        })
        .await
    }

    /// Creates the document at version 1 unless it exists.
    pub async fn create_directory(&self, doc: String) -> Result<(), MetaError> {
        self.with(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO directory (id, version, doc) VALUES (1, 1, ?1)",
                params![doc],
            )
            .map(|_| ())
        })
        .await
    }

    /// Replaces the document if its version is `expected`; the new version, or `None` when
    /// it was not (someone else wrote first).
    pub async fn cas_directory(
        &self,
        expected: u64,
        doc: String,
    ) -> Result<Option<u64>, MetaError> {
        self.with(move |c| {
            let n = c.execute(
                "UPDATE directory SET version = version + 1, doc = ?1 WHERE id = 1 AND version = ?2",
                params![doc, to_i64(expected)],
            )?;
            Ok((n == 1).then_some(expected + 1))
        })
        .await
    }

    /// The committed offset (the next to read) of a partition.
    pub async fn offset(&self, p: LogPartition) -> Result<Option<u64>, MetaError> {
        self.with(move |c| {
            c.query_row(
                "SELECT next_offset FROM offsets WHERE grp = ?1 AND partition = ?2",
                params![p.group.id(), p.partition],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.map(to_u64))
        })
        .await
    }

    /// Every committed offset.
    pub async fn offsets(&self) -> Result<Vec<(LogPartition, u64)>, MetaError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT grp, partition, next_offset FROM offsets")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (g, p, o) = row?;
                if let Some(group) = u8::try_from(g).ok().and_then(Group::from_id) {
                    out.push((
                        LogPartition {
                            group,
                            partition: u32::try_from(p).unwrap_or(0),
                        },
                        to_u64(o),
                    ));
                }
            }
            Ok(out)
        })
        .await
    }

    /// Records the committed offset of a partition.
    pub async fn commit_offset(&self, p: LogPartition, next: u64) -> Result<(), MetaError> {
        self.with(move |c| {
            c.prepare_cached(
                "INSERT INTO offsets (grp, partition, next_offset) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (grp, partition) DO UPDATE SET next_offset = excluded.next_offset",
            )?
            .execute(params![p.group.id(), p.partition, to_i64(next)])
            .map(|_| ())
        })
        .await
    }

    /// Stores dead letters.
    pub async fn dead_letters(&self, letters: Vec<DeadLetter>) -> Result<(), MetaError> {
        if letters.is_empty() {
            return Ok(());
        }
        self.with(move |c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO dead_letters (grp, partition, log_offset, event_id, reason, raw, at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for d in &letters {
                    stmt.execute(params![
                        d.partition.group.id(),
                        d.partition.partition,
                        to_i64(d.offset),
                        d.event_id,
                        d.reason,
                        d.raw,
                        d.at_ms
                    ])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// Every dead letter, oldest first.
    pub async fn read_dead_letters(&self) -> Result<Vec<DeadLetter>, MetaError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT grp, partition, log_offset, event_id, reason, raw, at_ms FROM dead_letters ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (g, p, o, event_id, reason, raw, at_ms) = row?;
                let group = u8::try_from(g).ok().and_then(Group::from_id).unwrap_or(Group::Member);
                out.push(DeadLetter {
                    partition: LogPartition {
                        group,
                        partition: u32::try_from(p).unwrap_or(0),
                    },
                    offset: to_u64(o),
                    event_id,
                    reason,
                    raw,
                    at_ms,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Publishes a listener's status document.
    pub async fn put_status(
        &self,
        listener: String,
        doc: String,
        at_ms: i64,
    ) -> Result<(), MetaError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO listener_status (listener, doc, at_ms) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (listener) DO UPDATE SET doc = excluded.doc, at_ms = excluded.at_ms",
                params![listener, doc, at_ms],
            )
            .map(|_| ())
        })
        .await
    }

    /// Every listener's status document, with when it was written.
    pub async fn statuses(&self) -> Result<Vec<(String, String, i64)>, MetaError> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT listener, doc, at_ms FROM listener_status")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await
    }
}
