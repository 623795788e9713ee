//! The screen cache: one entry per owner (a member's part of a screen, a seller's part),
//! bounded by bytes, with a time to live, **coalescing** concurrent misses (N callers missing
//! one owner at once make one shard read), and **invalidation** that a read can rely on.
//!
//! Invalidation is by generation. Each owner hashes to one of [`SLOTS`] counters; invalidating
//! bumps the counter, and an entry or a load in flight carries the counter it started at. A
//! read trusts a cached entry, or joins a load in flight, only when its generation is the
//! current one. So once `invalidate` has returned, no read that starts later sees data loaded
//! before it: not from the cache, and not from a load that was already under way (a load
//! that finishes after an invalidation is still returned to the callers that joined it before,
//! which is correct for them, and is never trusted by anyone after). Two owners sharing a slot
//! only cost each other an extra miss.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// Generation counters (a power of two).
pub const SLOTS: usize = 1 << 14;

/// The cache's counters.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: AtomicU64,
    /// Reads that found no current entry.
    pub misses: AtomicU64,
    /// Misses that joined a load already in flight instead of reading the shard.
    pub coalesced: AtomicU64,
    /// Loads run (shard reads made).
    pub loads: AtomicU64,
    /// Owners invalidated.
    pub invalidations: AtomicU64,
}

/// A load that did not finish (its task panicked or was cancelled), as the loaders' error
/// type says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFailed(pub String);

impl From<LoadFailed> for String {
    fn from(e: LoadFailed) -> Self {
        e.0
    }
}

impl From<LoadFailed> for arpc::Status {
    fn from(e: LoadFailed) -> Self {
        arpc::Status::internal(format!("a shard read failed: {}", e.0))
    }
}

/// A value a load produced, and the weight it is cached with.
pub trait Weighted {
    /// Approximate bytes held.
    fn weight(&self) -> u32;
}

type Load<V, E> = Shared<BoxFuture<'static, Result<Arc<V>, E>>>;

/// Loads in flight, by key, with the generation each started at.
type InFlight<K, V, E> = Mutex<HashMap<K, (u64, Load<V, E>)>>;

struct Entry<V> {
    generation: u64,
    value: Arc<V>,
}

impl<V> Clone for Entry<V> {
    fn clone(&self) -> Self {
        Self {
            generation: self.generation,
            value: Arc::clone(&self.value),
        }
    }
}

struct Inner<K, V, E> {
    entries: moka::sync::Cache<K, Entry<V>, foldhash::fast::RandomState>,
    generations: Box<[AtomicU64]>,
    in_flight: InFlight<K, V, E>,
    hasher: foldhash::fast::FixedState,
    stats: CacheStats,
}

/// A coalescing, invalidating cache of `K → Arc<V>`. Cheap to clone.
pub struct PartCache<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Clone for PartCache<K, V, E> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, E> std::fmt::Debug for PartCache<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartCache")
            .field("stats", &self.inner.stats)
            .finish_non_exhaustive()
    }
}

impl<K, V, E> PartCache<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Weighted + Send + Sync + 'static,
    E: Clone + Send + Sync + From<LoadFailed> + 'static,
{
    /// A cache holding at most `max_bytes` (by [`Weighted::weight`]), each entry for at most
    /// `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &K, e: &Entry<V>| e.value.weight())
            .time_to_live(ttl)
            .build_with_hasher(foldhash::fast::RandomState::default());
        Self {
            inner: Arc::new(Inner {
                entries,
                generations: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
                in_flight: Mutex::new(HashMap::new()),
                hasher: foldhash::fast::FixedState::with_seed(0x5eed),
                stats: CacheStats::default(),
            }),
        }
    }

    fn slot_index(&self, key: &K) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let h = self.inner.hasher.hash_one(key) as usize;
        h & (SLOTS - 1)
    }

    fn slot(&self, key: &K) -> &AtomicU64 {
        &self.inner.generations[self.slot_index(key)]
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.inner.stats
    }

    /// The value of `key`: cached if current, else from a load in flight that started after
    /// the last invalidation of `key`, else from `load` (whose result is cached).
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let stats = &self.inner.stats;
        let generation = self.slot(&key).load(Ordering::Acquire);
        if let Some(entry) = self.inner.entries.get(&key)
            && entry.generation == generation
        {
            stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(entry.value);
        }
        stats.misses.fetch_add(1, Ordering::Relaxed);
        let shared = {
            let mut in_flight = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match in_flight.get(&key) {
                Some((g, shared)) if *g == generation => {
                    stats.coalesced.fetch_add(1, Ordering::Relaxed);
                    shared.clone()
                }
                _ => {
                    stats.loads.fetch_add(1, Ordering::Relaxed);
                    let shared = self.load(key.clone(), generation, load());
                    in_flight.insert(key, (generation, shared.clone()));
                    shared
                }
            }
        };
        shared.await
    }

    /// A load of `key` at `generation`, shared by the callers that join it: caches its value
    /// and leaves the in-flight table when done. It runs as its own task, so it finishes (and
    /// gives back what it holds: a shard's read slot, a pooled connection) even when every
    /// caller waiting for it has gone.
    fn load<Fut>(&self, key: K, generation: u64, fut: Fut) -> Load<V, E>
    where
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let slot = self.slot_index(&key);
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let result = fut.await.map(Arc::new);
            // A value loaded before an invalidation is not kept (it would not be trusted).
            if let Ok(value) = &result
                && inner.generations[slot].load(Ordering::Acquire) == generation
            {
                inner.entries.insert(
                    task_key.clone(),
                    Entry {
                        generation,
                        value: Arc::clone(value),
                    },
                );
            }
            leave(&inner, &task_key, generation);
            result
        });
        let inner = Arc::clone(&self.inner);
        async move {
            match task.await {
                Ok(result) => result,
                Err(e) => {
                    // The task panicked: it never left the table.
                    leave(&inner, &key, generation);
                    Err(E::from(LoadFailed(e.to_string())))
                }
            }
        }
        .boxed()
        .shared()
    }

    /// Forgets `key`: no read that starts after this returns sees a value loaded before it.
    pub fn invalidate(&self, key: &K) {
        self.slot(key).fetch_add(1, Ordering::AcqRel);
        // The generation alone makes an entry untrusted; dropping it frees its bytes now. A
        // key not cached (most of what a write-heavy listener invalidates) costs no work in
        // the cache's write log.
        if self.inner.entries.contains_key(key) {
            self.inner.entries.invalidate(key);
        }
        self.inner
            .stats
            .invalidations
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Entries held (approximate: moka applies some changes lazily).
    pub fn entry_count(&self) -> u64 {
        self.inner.entries.entry_count()
    }
}

/// Removes the in-flight load of `key` at `generation`, if it is still the one there.
fn leave<K: Hash + Eq, V, E>(inner: &Inner<K, V, E>, key: &K, generation: u64) {
    let mut in_flight = inner
        .in_flight
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if in_flight.get(key).is_some_and(|(g, _)| *g == generation) {
        in_flight.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct V(u32);
    impl Weighted for V {
        fn weight(&self) -> u32 {
            64
        }
    }

    fn cache() -> PartCache<u64, V, String> {
        PartCache::new(1 << 20, Duration::from_secs(60))
    }

    #[tokio::test]
    async fn concurrent_misses_make_one_load() {
        let cache = cache();
        let loads = Arc::new(AtomicU32::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, loads, gate) = (cache.clone(), Arc::clone(&loads), Arc::clone(&gate));
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(7, move || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        Ok(V(1))
                    })
                    .await
                    .map(|v| v.0)
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate.notify_waiters();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(1));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.stats().coalesced.load(Ordering::SeqCst), 15);
        // Now cached.
        let v = cache.get_or_load(7, || async { Ok(V(2)) }).await.unwrap();
        assert_eq!(v.0, 1);
        assert_eq!(cache.stats().hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_read_after_invalidation_never_sees_an_older_load() {
        let cache = cache();
        let gate = Arc::new(tokio::sync::Notify::new());
        // A slow load of the old value is in flight...
        let old = {
            let (cache, gate) = (cache.clone(), Arc::clone(&gate));
            tokio::spawn(async move {
                cache
                    .get_or_load(7, move || async move {
                        gate.notified().await;
                        Ok(V(1))
                    })
                    .await
                    .map(|v| v.0)
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // ...when the key is invalidated: a later read does not join it,
        cache.invalidate(&7);
        let new = cache.get_or_load(7, || async { Ok(V(2)) }).await.unwrap();
        assert_eq!(new.0, 2);
        // and when the old load finishes and caches its value, nobody trusts it.
        gate.notify_waiters();
        assert_eq!(old.await.unwrap(), Ok(1));
        let again = cache.get_or_load(7, || async { Ok(V(3)) }).await.unwrap();
        assert_ne!(
            again.0, 1,
            "the value loaded before the invalidation came back"
        );
    }

    #[tokio::test]
    async fn a_load_whose_callers_left_still_finishes() {
        let cache = cache();
        let gate = Arc::new(tokio::sync::Notify::new());
        let finished = Arc::new(AtomicU32::new(0));
        let caller = {
            let (cache, gate, finished) = (cache.clone(), Arc::clone(&gate), Arc::clone(&finished));
            tokio::spawn(async move {
                cache
                    .get_or_load(9, move || async move {
                        gate.notified().await;
                        finished.fetch_add(1, Ordering::SeqCst);
                        Ok(V(4))
                    })
                    .await
                    .map(|v| v.0)
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        caller.abort();
        let _ = caller.await;
        gate.notify_waiters();
        for _ in 0..100 {
            if finished.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the load ran to its end"
        );
        let v = cache.get_or_load(9, || async { Ok(V(5)) }).await.unwrap();
        assert_eq!(v.0, 4, "and its value was cached");
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = cache();
        let e = cache
            .get_or_load(1, || async { Err("down".to_owned()) })
            .await;
        assert!(e.is_err());
        let v = cache.get_or_load(1, || async { Ok(V(5)) }).await.unwrap();
        assert_eq!(v.0, 5);
    }
}
