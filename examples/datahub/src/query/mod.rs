//! The read path: the [`Query`](crate::service::Query) service.
//!
//! A screen is a member's part (profile, points, history, benefits) and a seller's part (shop,
//! items), each **one shard read** of its owner's logical partition ([`read_partition`]: every
//! key and key range plus the partition's fence in one statement), cached per owner.
//!
//! | concern | where |
//! |---|---|
//! | cache bounded by bytes, TTL, coalesced misses, invalidation by generation | [`cache`] |
//! | invalidations from the listener's commit stage | [`invalidate`] |
//! | decoding rows into parts, composing a screen | [`screen`] |
//! | routing by the directory, `MOVED` retried after a refresh, `min_version` waits | this file |
//!
//! [`read_partition`]: crate::store::Shard::read_partition

pub mod cache;
pub mod echo;
pub mod invalidate;
pub mod remote;
pub mod screen;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arpc::Status;

use self::cache::PartCache;
use self::invalidate::{Invalidate, Invalidations, Owner};
use self::screen::{MAX_ITEMS, Part};
use crate::model::{DisplayScreen, GetRequest, MinVersion, Record, Records, ScreenRequest};
use crate::partition::{Group, Lp, logical_partition};
use crate::store::{PartitionRead, ReadPart, ShardSet, StoreError};

/// Keys a `get` may ask for.
pub const MAX_GET_KEYS: usize = 1000;

/// The read path's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QueryConfig {
    /// The cache's size in bytes of rows held. Default 64 MiB.
    pub cache_bytes: u64,
    /// How long an entry may be served without a read. Default 10 s: invalidation keeps
    /// entries current in the listener's process; the TTL bounds staleness where the
    /// listener runs elsewhere.
    pub ttl: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            cache_bytes: 64 << 20,
            ttl: Duration::from_secs(10),
        }
    }
}

/// The read path's counters.
#[derive(Debug, Default)]
pub struct QueryStats {
    /// Shard reads made (one per owner loaded, plus `get`'s and retries).
    pub shard_reads: AtomicU64,
    /// Reads that reached a shard which had handed the partition on (`MOVED`), and were
    /// routed again.
    pub moved_retries: AtomicU64,
    /// Screens that waited for a `min_version`.
    pub min_version_waits: AtomicU64,
}

struct Reader {
    shards: ShardSet,
    stats: QueryStats,
}

/// The `Query` service.
#[derive(Clone)]
pub struct QueryService {
    reader: Arc<Reader>,
    cache: PartCache<Owner, Part, Status>,
    /// Keeps the (weak) subscription to invalidations alive as long as the service.
    _subscription: Arc<dyn Invalidate>,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Invalidate for PartCache<Owner, Part, Status> {
    fn invalidate(&self, owners: &[Owner]) {
        for owner in owners {
            PartCache::invalidate(self, owner);
        }
    }
}

impl QueryService {
    /// A query service over `shards`, told of changes by `invalidations`.
    pub fn new(shards: ShardSet, config: &QueryConfig, invalidations: &Invalidations) -> Self {
        let cache = PartCache::new(config.cache_bytes, config.ttl);
        let subscriber: Arc<dyn Invalidate> = Arc::new(cache.clone());
        invalidations.subscribe(&subscriber);
        Self {
            reader: Arc::new(Reader {
                shards,
                stats: QueryStats::default(),
            }),
            cache,
            _subscription: subscriber,
        }
    }

    /// Drops what the cache holds for `owners` (what the `Caches` service does when a
    /// listener in another process tells it).
    pub fn invalidate(&self, owners: &[Owner]) {
        Invalidate::invalidate(&self.cache, owners);
    }

    /// The cache's counters.
    pub fn cache_stats(&self) -> &cache::CacheStats {
        self.cache.stats()
    }

    /// The read path's counters.
    pub fn stats(&self) -> &QueryStats {
        &self.reader.stats
    }

    async fn part(&self, owner: Owner) -> Result<Arc<Part>, Status> {
        let reader = Arc::clone(&self.reader);
        self.cache
            .get_or_load(owner, move || async move { reader.load(owner).await })
            .await
    }

    async fn screen_once(&self, req: &ScreenRequest) -> Result<(Arc<Part>, Arc<Part>), Status> {
        tokio::try_join!(self.part(member_owner(req)), self.part(seller_owner(req)))
    }

    /// The screen of `req`, waiting for its `min_version` (re-reading the shards past the
    /// cache, with a growing pause) until `max_wait_ms`.
    pub async fn screen(&self, req: ScreenRequest) -> Result<DisplayScreen, Status> {
        if req.member_id == 0 || req.seller_id == 0 {
            return Err(Status::invalid_argument(
                "member_id and seller_id must not be 0",
            ));
        }
        if req.items > MAX_ITEMS {
            return Err(Status::invalid_argument(format!(
                "items {} is over the limit of {MAX_ITEMS}",
                req.items
            )));
        }
        let wait = Duration::from_millis(match req.max_wait_ms {
            0 => 1000,
            ms => u64::from(ms.min(10_000)),
        });
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut waited = false;
        loop {
            let (member, seller) = if waited {
                // Past the cache, without invalidating it for everyone else.
                tokio::try_join!(
                    self.reader.load(member_owner(&req)),
                    self.reader.load(seller_owner(&req))
                )
                .map(|(m, s)| (Arc::new(m), Arc::new(s)))?
            } else {
                self.screen_once(&req).await?
            };
            let (Part::Member(m), Part::Seller(s)) = (&*member, &*seller) else {
                return Err(Status::internal("cached parts of the wrong kind"));
            };
            let Some(min) = &req.min_version else {
                return Ok(screen::compose(m, s, req.items));
            };
            let shown = member
                .seen()
                .iter()
                .chain(seller.seen())
                .find(|seen| seen.key == min.key)
                .map(|seen| seen.version);
            if shown.is_some_and(|v| v >= min.version) {
                return Ok(screen::compose(m, s, req.items));
            }
            if !waited {
                waited = true;
                self.reader
                    .stats
                    .min_version_waits
                    .fetch_add(1, Ordering::Relaxed);
            }
            if started.elapsed() >= wait {
                return Err(not_yet(min, shown, wait));
            }
            tokio::time::sleep(pause.min(wait.saturating_sub(started.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Raw records by key: one shard read per logical partition asked for.
    pub async fn get(&self, req: GetRequest) -> Result<Records, Status> {
        if req.keys.len() > MAX_GET_KEYS {
            return Err(Status::invalid_argument(format!(
                "{} keys is over the limit of {MAX_GET_KEYS}",
                req.keys.len()
            )));
        }
        // Keys grouped by partition, in the order first asked.
        let mut by_lp: Vec<(Lp, Vec<usize>)> = Vec::new();
        for (i, k) in req.keys.iter().enumerate() {
            let group = Group::of_domain(k.domain)
                .ok_or_else(|| Status::invalid_argument(format!("key {}: no domain", k.key)))?;
            let lp = logical_partition(group, &k.partition_key);
            match by_lp.iter_mut().find(|(l, _)| *l == lp) {
                Some((_, v)) => v.push(i),
                None => by_lp.push((lp, vec![i])),
            }
        }
        let mut found: Vec<Option<Record>> = vec![None; req.keys.len()];
        for (lp, indexes) in by_lp {
            let parts = indexes
                .iter()
                .map(|&i| ReadPart::Key(req.keys[i].domain, req.keys[i].key.clone()))
                .collect();
            let read = self.reader.read(lp, parts).await?;
            for row in read.rows {
                if let Some(&i) = indexes
                    .iter()
                    .find(|&&i| req.keys[i].domain == row.domain && req.keys[i].key == row.key)
                {
                    found[i] = Some(Record {
                        domain: row.domain,
                        version: row.version(),
                        deleted: row.deleted,
                        key: row.key,
                        payload: row.payload,
                        updated_at_ms: row.updated_at_ms,
                    });
                }
            }
        }
        Ok(Records {
            records: found.into_iter().flatten().collect(),
        })
    }
}

impl Reader {
    /// Reads one owner's part from its shard.
    async fn load(&self, owner: Owner) -> Result<Part, Status> {
        let lp = logical_partition(owner.group, &owner.id.to_string());
        match owner.group {
            Group::Member => {
                let read = self.read(lp, screen::member_reads(owner.id)).await?;
                screen::member_part(&read.rows).map(Part::Member)
            }
            Group::Seller => {
                let read = self.read(lp, screen::seller_reads(owner.id)).await?;
                screen::seller_part(&read.rows).map(Part::Seller)
            }
        }
    }

    /// One read of `lp` where the directory places it. A shard that fenced the partition at a
    /// newer epoch than the one routed by (`MOVED`: it was handed on) means the directory
    /// here is behind: it is refreshed and the read made again, invisibly to the caller.
    /// Between the fence and the directory switch (a few ms of a cutover) the refresh still
    /// names the old shard, so retries pause briefly; a shard that is down is retried too.
    async fn read(&self, lp: Lp, parts: Vec<ReadPart>) -> Result<PartitionRead, Status> {
        let directory = self.shards.directory();
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let placement = directory.snapshot().placement(lp);
            self.stats.shard_reads.fetch_add(1, Ordering::Relaxed);
            let result = match self.shards.get(placement.shard).await {
                Ok(shard) => shard.read_partition(lp, parts.clone()).await,
                Err(e) => Err(e),
            };
            let retry = match result {
                Ok(read) if read.fence.is_none_or(|f| f <= placement.epoch) => return Ok(read),
                Ok(_) => {
                    self.stats.moved_retries.fetch_add(1, Ordering::Relaxed);
                    let _ = directory.refresh().await;
                    format!("{lp} kept moving")
                }
                Err(e) if e.is_transient() => e.to_string(),
                Err(e) => return Err(store_status(&e)),
            };
            if started.elapsed() > Duration::from_secs(5) {
                return Err(Status::unavailable(retry));
            }
            if directory.snapshot().placement(lp) == placement {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
        }
    }
}

fn store_status(e: &StoreError) -> Status {
    if e.is_transient() {
        Status::unavailable(e.to_string())
    } else {
        Status::internal(e.to_string())
    }
}

fn member_owner(req: &ScreenRequest) -> Owner {
    Owner {
        group: Group::Member,
        id: req.member_id,
    }
}

fn seller_owner(req: &ScreenRequest) -> Owner {
    Owner {
        group: Group::Seller,
        id: req.seller_id,
    }
}

fn not_yet(min: &MinVersion, shown: Option<u64>, wait: Duration) -> Status {
    Status::deadline_exceeded(match shown {
        Some(v) => format!(
            "{} is at version {v}, not yet {} after {} ms",
            min.key,
            min.version,
            wait.as_millis()
        ),
        None => format!(
            "{} is not on this screen yet (waiting for version {}) after {} ms",
            min.key,
            min.version,
            wait.as_millis()
        ),
    })
}

impl crate::service::Query for QueryService {
    async fn screen(&self, request: ScreenRequest) -> Result<DisplayScreen, Status> {
        // With a subscriber, a `hub.screen` span in the call's trace names every entity it
        // served at its version (`served = "member:1@5 points:1@9 …"`): the same key@version
        // as the `hub.apply` span of the event that wrote it, in that publish's trace (see
        // `crate::trace`).
        let span = crate::trace::screen_span(&request);
        let screen = QueryService::screen(self, request).await;
        if let Ok(screen) = &screen {
            crate::trace::record_served(&span, screen);
        }
        screen
    }

    async fn get(&self, request: GetRequest) -> Result<Records, Status> {
        QueryService::get(self, request).await
    }
}
