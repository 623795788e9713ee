//! The embedded log: per log partition, a directory of segment files, each with a sparse
//! index for seeking by offset and by time.
//!
//! Record layout (little-endian), the CRC covering everything after it:
//!
//! ```text
//! len: u32 | crc32: u32 | offset: u64 | timestamp_ms: i64 | key_len: u32 | key | value
//! ```
//!
//! `len` counts the bytes after the CRC. Offsets are contiguous from a segment's base offset
//! (its file name); timestamps never go backwards within a partition (an append takes the
//! later of the clock and the previous record's time), so the index answers "first record at
//! or after time t" with a binary search. Appends are buffered by the OS; [`SegmentLog::sync`]
//! makes them durable with one `fdatasync` per touched file and only then moves the
//! partition's durable end, the point readers stop at. On open, the active segment is read
//! through: a torn or corrupt tail (a crash during a write) fails its CRC or length check and
//! is cut off. Nothing below the durable end can be cut, because it was synced before anyone
//! was told it was written.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::sync::watch;

use super::{LogError, LogRecord};
use crate::partition::{Group, LogPartition, check_partition_count};

/// Bytes before a record's body: length and CRC.
const HEADER: usize = 8;
/// Body bytes before the key: offset, timestamp, key length.
const BODY_FIXED: usize = 20;
/// Largest record accepted (key and value), so a corrupt length cannot make a reader
/// allocate gigabytes.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;
/// One index entry on disk: offset, position, timestamp.
const INDEX_ENTRY: usize = 24;

/// How the embedded log is laid out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogConfig {
    /// Partitions per domain group (a power of two, at most 1024). Default 8.
    pub partitions: u32,
    /// A segment is closed and a new one started past this size. Default 64 MiB: small
    /// enough that recovery reads little, large enough that files stay few.
    pub segment_bytes: u64,
    /// An index entry per this many bytes of records. Default 4 KiB (a seek reads at most
    /// that much before the record it wants).
    pub index_interval_bytes: u64,
    /// Closed segments whose newest record is older than this are deleted. Default 7 days.
    pub retention: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            partitions: 8,
            segment_bytes: 64 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl LogConfig {
    /// The default layout with `partitions` per group.
    pub fn with_partitions(partitions: u32) -> Self {
        Self {
            partitions,
            ..Self::default()
        }
    }

    /// Sets the segment size (tests use small segments to exercise rolling).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(1024);
        self
    }
}

/// What opening a log found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Partitions whose tail was cut.
    pub repaired_partitions: u32,
    /// Bytes cut from torn or corrupt tails.
    pub truncated_bytes: u64,
}

/// The embedded, segmented, CRC-checked log of both domain groups.
#[derive(Debug)]
pub struct SegmentLog {
    dir: PathBuf,
    config: LogConfig,
    partitions: Vec<Arc<PartitionLog>>,
    recovery: Recovery,
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    offset: u64,
    pos: u64,
    ts: i64,
}

#[derive(Debug)]
struct Segment {
    base: u64,
    path: PathBuf,
    index: RwLock<Vec<IndexEntry>>,
    /// Timestamp of the newest record (i64::MIN when empty).
    max_ts: std::sync::atomic::AtomicI64,
}

#[derive(Debug)]
struct Active {
    segment: Arc<Segment>,
    file: File,
    index_file: File,
    len: u64,
    since_index: u64,
    next_offset: u64,
    last_ts: i64,
    dirty: bool,
    /// A write or sync failed: what is on disk past `len` is unknown, and after a failed
    /// `fdatasync` the kernel may have dropped the pages ("fsyncgate"), so nothing more is
    /// written until the log is opened again (which cuts the tail back to what is sound).
    failed: bool,
}

/// One partition's segments and writer.
#[derive(Debug)]
pub(crate) struct PartitionLog {
    id: LogPartition,
    dir: PathBuf,
    config: LogConfig,
    segments: RwLock<Vec<Arc<Segment>>>,
    active: Mutex<Active>,
    durable: watch::Sender<u64>,
}

impl SegmentLog {
    /// Opens (or creates) the log under `dir`, repairing torn tails.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Self, LogError> {
        check_partition_count(config.partitions).map_err(LogError::Config)?;
        let dir = dir.as_ref().to_path_buf();
        let mut partitions = Vec::new();
        let mut recovery = Recovery::default();
        for group in Group::ALL {
            for partition in 0..config.partitions {
                let id = LogPartition { group, partition };
                let (log, cut) = PartitionLog::open(&dir, id, config.clone())?;
                if cut > 0 {
                    recovery.repaired_partitions += 1;
                    recovery.truncated_bytes += cut;
                }
                partitions.push(Arc::new(log));
            }
        }
        Ok(Self {
            dir,
            config,
            partitions,
            recovery,
        })
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Partitions per group.
    pub fn partition_count(&self) -> u32 {
        self.config.partitions
    }

    /// What opening repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Every partition of every group.
    pub fn partition_ids(&self) -> impl Iterator<Item = LogPartition> + '_ {
        self.partitions.iter().map(|p| p.id)
    }

    pub(crate) fn partition(&self, id: LogPartition) -> Result<&Arc<PartitionLog>, LogError> {
        if id.partition >= self.config.partitions {
            return Err(LogError::UnknownPartition(id));
        }
        let group_index = Group::ALL.iter().position(|g| *g == id.group).unwrap_or(0);
        let index = group_index * self.config.partitions as usize + id.partition as usize;
        self.partitions
            .get(index)
            .ok_or(LogError::UnknownPartition(id))
    }

    /// Appends records to `partition` (buffered, not yet durable) and returns the offset of
    /// the first. Call [`sync`](Self::sync) before telling anyone they are written.
    pub fn append<'a>(
        &self,
        partition: LogPartition,
        records: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<u64, LogError> {
        self.partition(partition)?.append(records)
    }

    /// Makes everything appended to `partitions` durable (one `fdatasync` per partition
    /// file, in parallel when there are several) and moves their durable ends.
    pub fn sync(&self, partitions: &[LogPartition]) -> Result<(), LogError> {
        let logs = partitions
            .iter()
            .map(|p| self.partition(*p).map(Arc::clone))
            .collect::<Result<Vec<_>, _>>()?;
        if logs.len() <= 1 {
            return logs.iter().try_for_each(|l| l.sync());
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = logs.iter().map(|l| s.spawn(move || l.sync())).collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().unwrap_or(Err(LogError::Closed)))
        })
    }

    /// The next offset of `partition` that readers will see (everything below is durable).
    pub fn durable_end(&self, partition: LogPartition) -> Result<u64, LogError> {
        Ok(*self.partition(partition)?.durable.borrow())
    }

    /// A watch of `partition`'s durable end.
    pub fn watch_durable(&self, partition: LogPartition) -> Result<watch::Receiver<u64>, LogError> {
        Ok(self.partition(partition)?.durable.subscribe())
    }

    /// The oldest offset still stored in `partition`.
    pub fn start_offset(&self, partition: LogPartition) -> Result<u64, LogError> {
        let log = self.partition(partition)?;
        let segments = log.segments.read().map_err(|_| LogError::Closed)?;
        Ok(segments.first().map_or(0, |s| s.base))
    }

    /// The offset of the first record of `partition` at or after `timestamp_ms` (the durable
    /// end when there is none).
    pub fn offset_for_time(
        &self,
        partition: LogPartition,
        timestamp_ms: i64,
    ) -> Result<u64, LogError> {
        PartitionLog::offset_for_time(self.partition(partition)?, timestamp_ms)
    }

    /// A reader of `partition` from `offset` (clamped to what is stored).
    pub fn reader(&self, partition: LogPartition, offset: u64) -> Result<SegmentReader, LogError> {
        let log = Arc::clone(self.partition(partition)?);
        let mut reader = SegmentReader {
            log,
            next: 0,
            current: None,
        };
        reader.seek(offset)?;
        Ok(reader)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn segment_path(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

impl PartitionLog {
    fn open(root: &Path, id: LogPartition, config: LogConfig) -> Result<(Self, u64), LogError> {
        let dir = root.join(format!("{}-{:04}", id.group, id.partition));
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut bases = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(base) = name
                .strip_suffix(".log")
                .and_then(|b| b.parse::<u64>().ok())
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        if bases.is_empty() {
            bases.push(0);
        }
        let mut segments = Vec::new();
        let last = bases.len() - 1;
        let mut cut = 0;
        let mut active = None;
        for (i, base) in bases.into_iter().enumerate() {
            if i < last {
                segments.push(Segment::load_sealed(&dir, base, &config)?);
            } else {
                let (a, c) = Active::recover(&dir, base, &config)?;
                cut = c;
                segments.push(Arc::clone(&a.segment));
                active = Some(a);
            }
        }
        let active = active.ok_or(LogError::Closed)?;
        let (durable, _) = watch::channel(active.next_offset);
        Ok((
            Self {
                id,
                dir,
                config,
                segments: RwLock::new(segments),
                active: Mutex::new(active),
                durable,
            },
            cut,
        ))
    }

    pub(crate) fn append<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<u64, LogError> {
        let mut active = self.active.lock().map_err(|_| LogError::Closed)?;
        if active.failed {
            return Err(LogError::Failed(self.id));
        }
        let first = active.next_offset;
        let mut buf = Vec::with_capacity(4096);
        let mut entries = Vec::new();
        let mut pos = active.len;
        let mut since_index = active.since_index;
        let mut offset = active.next_offset;
        let ts = now_ms().max(active.last_ts);
        for (key, value) in records {
            if key.len() + value.len() > MAX_RECORD_BYTES {
                return Err(LogError::TooLarge(key.len() + value.len()));
            }
            if pos == 0 || since_index >= self.config.index_interval_bytes {
                entries.push(IndexEntry { offset, pos, ts });
                since_index = 0;
            }
            let start = buf.len();
            encode_record(&mut buf, offset, ts, key, value);
            let n = (buf.len() - start) as u64;
            pos += n;
            since_index += n;
            offset += 1;
        }
        if offset == first {
            return Ok(first);
        }
        let path = segment_path(&self.dir, active.segment.base, "log");
        if let Err(e) = active.file.write_all(&buf) {
            active.failed = true;
            return Err(io(&path)(e));
        }
        if !entries.is_empty() {
            let idx = encode_index(&entries);
            let ipath = segment_path(&self.dir, active.segment.base, "idx");
            active.index_file.write_all(&idx).map_err(io(&ipath))?;
            active
                .segment
                .index
                .write()
                .map_err(|_| LogError::Closed)?
                .extend(entries);
        }
        active.len = pos;
        active.since_index = since_index;
        active.next_offset = offset;
        active.last_ts = ts;
        active.dirty = true;
        active
            .segment
            .max_ts
            .store(ts, std::sync::atomic::Ordering::Release);
        Ok(first)
    }

    /// `fdatasync`s the active segment, publishes the durable end, and rolls to a new
    /// segment when the active one is full.
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        let mut active = self.active.lock().map_err(|_| LogError::Closed)?;
        if active.failed {
            return Err(LogError::Failed(self.id));
        }
        if !active.dirty {
            return Ok(());
        }
        let path = segment_path(&self.dir, active.segment.base, "log");
        if let Err(e) = active.file.sync_data() {
            active.failed = true;
            return Err(io(&path)(e));
        }
        active.dirty = false;
        let end = active.next_offset;
        if active.len >= self.config.segment_bytes {
            self.roll(&mut active)?;
        }
        drop(active);
        self.durable.send_replace(end);
        Ok(())
    }

    fn roll(&self, active: &mut Active) -> Result<(), LogError> {
        let ipath = segment_path(&self.dir, active.segment.base, "idx");
        active.index_file.sync_data().map_err(io(&ipath))?;
        let base = active.next_offset;
        let fresh = Active::create(&self.dir, base, active.last_ts)?;
        // The new file's directory entry must survive a crash too.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        let mut segments = self.segments.write().map_err(|_| LogError::Closed)?;
        segments.push(Arc::clone(&fresh.segment));
        *active = fresh;
        // Retention: drop closed segments whose newest record is older than the limit.
        let limit = now_ms()
            .saturating_sub(i64::try_from(self.config.retention.as_millis()).unwrap_or(i64::MAX));
        while segments.len() > 1
            && segments[0]
                .max_ts
                .load(std::sync::atomic::Ordering::Acquire)
                < limit
        {
            let old = segments.remove(0);
            let _ = fs::remove_file(segment_path(&self.dir, old.base, "log"));
            let _ = fs::remove_file(segment_path(&self.dir, old.base, "idx"));
        }
        Ok(())
    }

    fn offset_for_time(self: &Arc<Self>, ts: i64) -> Result<u64, LogError> {
        let end = *self.durable.borrow();
        let segments = self.segments.read().map_err(|_| LogError::Closed)?.clone();
        let Some(segment) = segments
            .iter()
            .find(|s| s.max_ts.load(std::sync::atomic::Ordering::Acquire) >= ts)
        else {
            return Ok(end);
        };
        let start = {
            let index = segment.index.read().map_err(|_| LogError::Closed)?;
            let i = index.partition_point(|e| e.ts < ts);
            index[..i]
                .last()
                .or_else(|| index.first())
                .map_or(segment.base, |e| e.offset)
        };
        let mut reader = SegmentReader {
            log: Arc::clone(self),
            next: 0,
            current: None,
        };
        reader.seek(start)?;
        loop {
            let batch = reader.read(256, 1 << 20)?;
            if batch.is_empty() {
                return Ok(end);
            }
            if let Some(r) = batch.iter().find(|r| r.timestamp_ms >= ts) {
                return Ok(r.offset);
            }
        }
    }
}

/// Index entries as the `.idx` file stores them.
fn encode_index(entries: &[IndexEntry]) -> Vec<u8> {
    let mut idx = Vec::with_capacity(entries.len() * INDEX_ENTRY);
    for e in entries {
        idx.extend_from_slice(&e.offset.to_le_bytes());
        idx.extend_from_slice(&e.pos.to_le_bytes());
        idx.extend_from_slice(&e.ts.to_le_bytes());
    }
    idx
}

fn encode_record(buf: &mut Vec<u8>, offset: u64, ts: i64, key: &[u8], value: &[u8]) {
    let body_len = BODY_FIXED + key.len() + value.len();
    let start = buf.len();
    #[allow(clippy::cast_possible_truncation)] // bounded by MAX_RECORD_BYTES
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&ts.to_le_bytes());
    #[allow(clippy::cast_possible_truncation)]
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
    let crc = crc32fast::hash(&buf[start + HEADER..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Where a parsed record's parts are.
struct Parsed {
    offset: u64,
    ts: i64,
    /// Index of the key in the buffer.
    key_at: usize,
    key_len: usize,
    /// The whole record's size, header included.
    size: usize,
}

/// One record parsed from `buf` at `at`: `Ok(Some(parts))`, `Ok(None)` when the buffer ends
/// inside it, `Err` when it is corrupt.
fn parse_record(buf: &[u8], at: usize) -> Result<Option<Parsed>, String> {
    let rest = &buf[at..];
    if rest.len() < HEADER {
        return Ok(None);
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    if !(BODY_FIXED..=BODY_FIXED + MAX_RECORD_BYTES).contains(&len) {
        return Err(format!("record length {len} out of range"));
    }
    if rest.len() < HEADER + len {
        return Ok(None);
    }
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    let body = &rest[HEADER..HEADER + len];
    if crc32fast::hash(body) != crc {
        return Err("CRC mismatch".into());
    }
    let offset = u64::from_le_bytes(body[0..8].try_into().unwrap_or_default());
    let ts = i64::from_le_bytes(body[8..16].try_into().unwrap_or_default());
    let key_len = u32::from_le_bytes(body[16..20].try_into().unwrap_or_default()) as usize;
    if key_len > len - BODY_FIXED {
        return Err(format!("key length {key_len} beyond the record"));
    }
    Ok(Some(Parsed {
        offset,
        ts,
        key_at: at + HEADER + BODY_FIXED,
        key_len,
        size: HEADER + len,
    }))
}

impl Segment {
    fn load_sealed(dir: &Path, base: u64, config: &LogConfig) -> Result<Arc<Self>, LogError> {
        let ipath = segment_path(dir, base, "idx");
        let mut index = Vec::new();
        if let Ok(bytes) = fs::read(&ipath) {
            for e in bytes.chunks_exact(INDEX_ENTRY) {
                index.push(IndexEntry {
                    offset: u64::from_le_bytes(e[0..8].try_into().unwrap_or_default()),
                    pos: u64::from_le_bytes(e[8..16].try_into().unwrap_or_default()),
                    ts: i64::from_le_bytes(e[16..24].try_into().unwrap_or_default()),
                });
            }
        }
        let sound = index
            .first()
            .is_some_and(|e| e.offset == base && e.pos == 0)
            && index.windows(2).all(|w| w[0].offset < w[1].offset);
        if !sound {
            // Rebuild from the records (an index is a cache of the log, never the truth).
            let (active, _) = Active::recover(dir, base, config)?;
            return Ok(active.segment);
        }
        // The newest timestamp: read through the last indexed stretch.
        let path = segment_path(dir, base, "log");
        let file = File::open(&path).map_err(io(&path))?;
        let len = file.metadata().map_err(io(&path))?.len();
        let last = index.last().copied().unwrap_or(IndexEntry {
            offset: base,
            pos: 0,
            ts: i64::MIN,
        });
        let tail = read_span(&file, &path, last.pos, len)?;
        let mut at = 0;
        let mut max_ts = last.ts;
        while let Ok(Some(Parsed { ts, size, .. })) = parse_record(&tail, at) {
            max_ts = ts;
            at += size;
        }
        Ok(Arc::new(Self {
            base,
            path,
            index: RwLock::new(index),
            max_ts: std::sync::atomic::AtomicI64::new(max_ts),
        }))
    }
}

fn read_span(file: &File, path: &Path, from: u64, to: u64) -> Result<Vec<u8>, LogError> {
    let len = usize::try_from(to.saturating_sub(from)).unwrap_or(0);
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, from).map_err(io(path))?;
    Ok(buf)
}

impl Active {
    fn create(dir: &Path, base: u64, last_ts: i64) -> Result<Self, LogError> {
        let path = segment_path(dir, base, "log");
        let ipath = segment_path(dir, base, "idx");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let index_file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&ipath)
            .map_err(io(&ipath))?;
        Ok(Self {
            segment: Arc::new(Segment {
                base,
                path,
                index: RwLock::new(Vec::new()),
                max_ts: std::sync::atomic::AtomicI64::new(i64::MIN),
            }),
            file,
            index_file,
            len: 0,
            since_index: 0,
            next_offset: base,
            last_ts,
            dirty: false,
            failed: false,
        })
    }

    /// Reads the segment through, cutting a torn or corrupt tail, and rebuilds its index.
    /// Returns the writer and the number of bytes cut.
    fn recover(dir: &Path, base: u64, config: &LogConfig) -> Result<(Self, u64), LogError> {
        let path = segment_path(dir, base, "log");
        let mut active = Self::create(dir, base, i64::MIN)?;
        let file_len = active.file.metadata().map_err(io(&path))?.len();
        let data = fs::read(&path).map_err(io(&path))?;
        let file_len = file_len.min(data.len() as u64);
        let mut at = 0usize;
        let mut expected = base;
        let mut index = Vec::new();
        let mut since_index = 0u64;
        let mut last_ts = i64::MIN;
        loop {
            match parse_record(&data, at) {
                Ok(Some(Parsed {
                    offset, ts, size, ..
                })) if offset == expected && ts >= last_ts => {
                    if at == 0 || since_index >= config.index_interval_bytes {
                        index.push(IndexEntry {
                            offset,
                            pos: at as u64,
                            ts,
                        });
                        since_index = 0;
                    }
                    since_index += size as u64;
                    at += size;
                    expected += 1;
                    last_ts = ts;
                }
                _ => break,
            }
        }
        let valid = at as u64;
        let cut = file_len - valid;
        if cut > 0 {
            active.file.set_len(valid).map_err(io(&path))?;
            active.file.sync_all().map_err(io(&path))?;
        }
        let idx = encode_index(&index);
        let ipath = segment_path(dir, base, "idx");
        active.index_file.write_all(&idx).map_err(io(&ipath))?;
        active.len = valid;
        active.since_index = since_index;
        active.next_offset = expected;
        active.last_ts = last_ts;
        *active.segment.index.write().map_err(|_| LogError::Closed)? = index;
        active
            .segment
            .max_ts
            .store(last_ts, std::sync::atomic::Ordering::Release);
        Ok((active, cut))
    }
}

/// Reads one partition forward from an offset, never past its durable end.
#[derive(Debug)]
pub struct SegmentReader {
    log: Arc<PartitionLog>,
    next: u64,
    current: Option<(Arc<Segment>, File, u64)>,
}

impl SegmentReader {
    /// The offset of the next record this reader returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The partition read.
    pub fn partition(&self) -> LogPartition {
        self.log.id
    }

    /// The partition's durable end now.
    pub fn durable_end(&self) -> u64 {
        *self.log.durable.borrow()
    }

    /// A watch of the durable end, to wait for new records.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.log.durable.subscribe()
    }

    /// Moves to `offset` (clamped to the stored range).
    pub fn seek(&mut self, offset: u64) -> Result<(), LogError> {
        let segments = self
            .log
            .segments
            .read()
            .map_err(|_| LogError::Closed)?
            .clone();
        let start = segments.first().map_or(0, |s| s.base);
        let end = *self.log.durable.borrow();
        let offset = offset.clamp(start, end.max(start));
        let i = segments.partition_point(|s| s.base <= offset).max(1) - 1;
        let segment = Arc::clone(&segments[i]);
        let pos = {
            let index = segment.index.read().map_err(|_| LogError::Closed)?;
            let j = index.partition_point(|e| e.offset <= offset);
            if j == 0 { 0 } else { index[j - 1].pos }
        };
        let file = File::open(&segment.path).map_err(io(&segment.path))?;
        self.current = Some((segment, file, pos));
        self.next = offset;
        // Skip records before `offset` within the indexed stretch.
        self.skip_to(offset)
    }

    fn skip_to(&mut self, offset: u64) -> Result<(), LogError> {
        let Some((_, file, pos)) = &mut self.current else {
            return Ok(());
        };
        let mut at_pos = *pos;
        loop {
            let mut header = [0u8; HEADER + 8];
            if file.read_exact_at(&mut header, at_pos).is_err() {
                break;
            }
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
            let rec_offset = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
            if rec_offset >= offset {
                break;
            }
            at_pos += HEADER as u64 + len;
        }
        *pos = at_pos;
        Ok(())
    }

    /// Up to `max_records` records (about `max_bytes` at most, and at least one) from the
    /// current position; empty at the durable end.
    pub fn read(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<LogRecord>, LogError> {
        let end = *self.log.durable.borrow();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while self.next < end && out.len() < max_records && bytes < max_bytes {
            let Some((segment, file, pos)) = &mut self.current else {
                self.seek(self.next)?;
                continue;
            };
            let len = file.metadata().map_err(io(&segment.path))?.len();
            if *pos >= len {
                // The end of this segment: the next one starts at `self.next`.
                let next_segment = {
                    let segments = self.log.segments.read().map_err(|_| LogError::Closed)?;
                    segments.iter().find(|s| s.base > segment.base).cloned()
                };
                match next_segment {
                    Some(s) if s.base <= self.next => {
                        let file = File::open(&s.path).map_err(io(&s.path))?;
                        self.current = Some((s, file, 0));
                        continue;
                    }
                    _ => break,
                }
            }
            let want = (max_bytes - bytes).clamp(64 * 1024, 4 * 1024 * 1024) as u64;
            let chunk_len = want.min(len - *pos);
            let mut chunk = BytesMut::zeroed(usize::try_from(chunk_len).unwrap_or(0));
            file.read_exact_at(&mut chunk, *pos)
                .map_err(io(&segment.path))?;
            let chunk = chunk.freeze();
            let mut at = 0usize;
            let mut progressed = false;
            while self.next < end && out.len() < max_records {
                match parse_record(&chunk, at) {
                    Ok(Some(Parsed {
                        offset,
                        ts,
                        key_at,
                        key_len,
                        size,
                    })) => {
                        if offset != self.next {
                            return Err(LogError::Corrupt {
                                partition: self.log.id,
                                offset: self.next,
                                reason: format!("found offset {offset}"),
                            });
                        }
                        let value_at = key_at + key_len;
                        let record_end = at + size;
                        out.push(LogRecord {
                            partition: self.log.id,
                            offset,
                            timestamp_ms: ts,
                            key: chunk.slice(key_at..value_at),
                            value: chunk.slice(value_at..record_end),
                        });
                        bytes += size;
                        at = record_end;
                        self.next += 1;
                        progressed = true;
                    }
                    Ok(None) => break,
                    Err(reason) => {
                        return Err(LogError::Corrupt {
                            partition: self.log.id,
                            offset: self.next,
                            reason,
                        });
                    }
                }
            }
            *pos += at as u64;
            if !progressed {
                // A record longer than the chunk: read exactly it.
                let mut header = [0u8; HEADER];
                file.read_exact_at(&mut header, *pos)
                    .map_err(io(&segment.path))?;
                let size = HEADER
                    + u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
                if size > HEADER + BODY_FIXED + MAX_RECORD_BYTES || *pos + size as u64 > len {
                    return Err(LogError::Corrupt {
                        partition: self.log.id,
                        offset: self.next,
                        reason: format!("record of {size} bytes past the end of its segment"),
                    });
                }
                let mut big = BytesMut::zeroed(size);
                file.read_exact_at(&mut big, *pos)
                    .map_err(io(&segment.path))?;
                let big = big.freeze();
                match parse_record(&big, 0) {
                    Ok(Some(Parsed {
                        offset,
                        ts,
                        key_at,
                        key_len,
                        size,
                    })) if offset == self.next => {
                        out.push(LogRecord {
                            partition: self.log.id,
                            offset,
                            timestamp_ms: ts,
                            key: big.slice(key_at..key_at + key_len),
                            value: big.slice(key_at + key_len..size),
                        });
                        bytes += size;
                        *pos += size as u64;
                        self.next += 1;
                    }
                    Ok(_) | Err(_) => {
                        return Err(LogError::Corrupt {
                            partition: self.log.id,
                            offset: self.next,
                            reason: "unreadable record".into(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "datahub-segment-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    const P0: LogPartition = LogPartition {
        group: Group::Member,
        partition: 0,
    };

    fn append_n(log: &SegmentLog, n: usize, tag: &str) {
        let values: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
        log.append(P0, values.iter().map(|v| (&b"k"[..], v.as_bytes())))
            .unwrap();
        log.sync(&[P0]).unwrap();
    }

    #[test]
    fn appends_read_back_across_segments_and_reopen() {
        let dir = temp("roll");
        let config = LogConfig::with_partitions(2).segment_bytes(2048);
        {
            let log = SegmentLog::open(&dir, config.clone()).unwrap();
            for round in 0..20 {
                append_n(&log, 10, &format!("r{round}"));
            }
            assert_eq!(log.durable_end(P0).unwrap(), 200);
        }
        let log = SegmentLog::open(&dir, config).unwrap();
        assert_eq!(log.recovery(), &Recovery::default());
        assert!(
            fs::read_dir(dir.join("member-0000")).unwrap().count() > 4,
            "rolled"
        );
        let mut reader = log.reader(P0, 0).unwrap();
        let mut all = Vec::new();
        loop {
            let batch = reader.read(33, 1 << 20).unwrap();
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        assert_eq!(all.len(), 200);
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r.offset, i as u64);
            assert_eq!(r.value, format!("r{}-{}", i / 10, i % 10).as_bytes());
        }
        // Seek into the middle of a segment.
        let mut reader = log.reader(P0, 137).unwrap();
        assert_eq!(reader.read(1, 1 << 20).unwrap()[0].offset, 137);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_tail_is_cut_and_synced_records_survive() {
        let dir = temp("torn");
        let config = LogConfig::with_partitions(1);
        {
            let log = SegmentLog::open(&dir, config.clone()).unwrap();
            append_n(&log, 50, "a");
        }
        let file = dir.join("member-0000").join(format!("{:020}.log", 0));
        let good_len = fs::metadata(&file).unwrap().len();
        // A crash mid-write: half a record, then garbage.
        let mut f = OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        drop(f);
        let log = SegmentLog::open(&dir, config.clone()).unwrap();
        assert_eq!(log.recovery().truncated_bytes, 11);
        assert_eq!(fs::metadata(&file).unwrap().len(), good_len);
        assert_eq!(log.durable_end(P0).unwrap(), 50);
        append_n(&log, 5, "b");
        let mut reader = log.reader(P0, 48).unwrap();
        let got: Vec<_> = reader.read(100, 1 << 20).unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got[2].value, &b"b-0"[..]);
        drop(log);
        // A flipped bit in the last record fails its CRC: that record is cut, the rest stay.
        let mut bytes = fs::read(&file).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0x40;
        fs::write(&file, &bytes).unwrap();
        let log = SegmentLog::open(&dir, config).unwrap();
        assert_eq!(log.durable_end(P0).unwrap(), 54);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn seek_by_time_finds_the_first_record_at_or_after() {
        let dir = temp("time");
        let log = SegmentLog::open(&dir, LogConfig::with_partitions(1)).unwrap();
        append_n(&log, 10, "early");
        std::thread::sleep(Duration::from_millis(20));
        let t = now_ms();
        std::thread::sleep(Duration::from_millis(5));
        append_n(&log, 10, "late");
        assert_eq!(log.offset_for_time(P0, t).unwrap(), 10);
        assert_eq!(log.offset_for_time(P0, 0).unwrap(), 0);
        assert_eq!(log.offset_for_time(P0, i64::MAX).unwrap(), 20);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn readers_stop_at_the_durable_end() {
        let dir = temp("durable");
        let log = SegmentLog::open(&dir, LogConfig::with_partitions(1)).unwrap();
        append_n(&log, 3, "synced");
        log.append(P0, [(&b"k"[..], &b"unsynced"[..])]).unwrap();
        let mut reader = log.reader(P0, 0).unwrap();
        assert_eq!(reader.read(100, 1 << 20).unwrap().len(), 3);
        log.sync(&[P0]).unwrap();
        assert_eq!(reader.read(100, 1 << 20).unwrap().len(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
