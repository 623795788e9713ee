//! Client-side balancing over discovered instances: power of two choices by pending requests,
//! passive ejection of failing instances, and one retry on another instance for idempotent
//! calls, within a retry budget (retries ≤ 20 % of calls plus 10 a second, Finagle's
//! defaults: `budget.rs`), so that a failing cluster is not hit twice as hard.
//!
//! A background task applies the registry's `Change` events (from any
//! [`Discovery`]) to a copy-on-write list of endpoints, each a lazily
//! connecting HTTP/2 connection (`connection.rs`). A call picks two available endpoints at random and takes the one
//! with fewer calls in flight. An endpoint whose transport fails (refused, reset, gone) is
//! ejected for 250 ms, doubling with each consecutive failure up to 30 s, then tried again; a
//! success clears it. When the registry is unreachable no changes arrive and the list stays
//! as it is.
//!
//! Why not tower's `Balance`: it is not `Clone`, so every call would go through a `Buffer`
//! task (a hop arpc's own connection avoids), and it cannot be told to avoid the instance that
//! just failed, which the retry needs. The registry's stream still feeds tower's balancers
//! directly for those who want them (`registry/tests/tower_balance.rs`).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use arpc_registry::{Change, Discovery};
use futures_util::StreamExt;
use tokio::sync::watch;

/// The balanced set of one service's instances. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Balancer {
    shared: Arc<Shared>,
}

struct Shared {
    service: String,
    endpoints: RwLock<Arc<Vec<Arc<Endpoint>>>>,
    /// Bumped on every change of `endpoints`, for calls waiting for the first instances.
    generation: watch::Sender<u64>,
    /// Never sent on; dropped with the balancer, which ends the discovery task.
    alive: watch::Sender<()>,
    seed: AtomicU64,
    /// Retries left to this channel.
    budget: super::budget::RetryBudget,
    retries: AtomicU64,
    budget_refusals: AtomicU64,
    ejections: AtomicU64,
}

/// What a balanced channel did besides sending calls, counted since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStats {
    /// Calls sent a second time, to another instance.
    pub retries: u64,
    /// Retries the retry budget refused (the call failed with the first instance's error).
    pub retry_budget_refusals: u64,
    /// Times an instance was ejected after a failed call.
    pub ejections: u64,
}

/// A handle on a balanced channel's counters that does not keep the channel alive (for
/// metrics).
#[cfg(feature = "metrics")]
#[derive(Debug, Clone)]
pub(crate) struct StatsHandle(Weak<Shared>);

#[cfg(feature = "metrics")]
impl StatsHandle {
    /// The service and the counters, while the channel lives.
    pub(crate) fn read(&self) -> Option<(String, ChannelStats)> {
        let shared = self.0.upgrade()?;
        Some((shared.service.clone(), shared.stats()))
    }
}

impl Shared {
    fn stats(&self) -> ChannelStats {
        ChannelStats {
            retries: self.retries.load(Ordering::Relaxed),
            retry_budget_refusals: self.budget_refusals.load(Ordering::Relaxed),
            ejections: self.ejections.load(Ordering::Relaxed),
        }
    }
}

/// One instance.
pub(crate) struct Endpoint {
    id: String,
    pub(crate) channel: super::Connection,
    pending: AtomicUsize,
    failures: AtomicU32,
    /// When the ejection ends, in microseconds since `epoch`; 0 when not ejected. An atomic,
    /// not a lock, because every pick reads it for every endpoint.
    ejected_until: AtomicU64,
    epoch: Instant,
    /// The instance's zone (registry metadata), empty when unknown.
    zone: String,
}

/// Counts a call in flight on an endpoint until dropped.
pub(crate) struct InFlight(Arc<Endpoint>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("InFlight").field(&self.0.id).finish()
    }
}

impl InFlight {
    pub(crate) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

const FIRST_EJECTION: Duration = Duration::from_millis(250);
const LONGEST_EJECTION: Duration = Duration::from_secs(30);

impl Endpoint {
    /// Microseconds since `epoch` (at least 1, so 0 can mean "not ejected").
    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn available(&self, now: Instant) -> bool {
        self.ejected_until.load(Ordering::Relaxed) <= self.micros(now)
    }

    /// The transport failed: eject for a while, longer after each consecutive failure.
    fn failed(&self) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed).min(16);
        let ejection = FIRST_EJECTION.saturating_mul(1 << n).min(LONGEST_EJECTION);
        let until = self.micros(Instant::now() + ejection);
        self.ejected_until.store(until, Ordering::Relaxed);
    }

    /// A call got through: the endpoint is healthy.
    pub(crate) fn succeeded(&self) {
        if self.failures.swap(0, Ordering::Relaxed) != 0 {
            self.ejected_until.store(0, Ordering::Relaxed);
        }
    }

    /// The instance id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let endpoints = self.snapshot();
        f.debug_struct("Balancer")
            .field("service", &self.shared.service)
            .field(
                "instances",
                &endpoints.iter().map(|e| &e.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Balancer {
    /// Starts watching `service` in `discovery` (within a tokio runtime).
    pub(crate) fn discover<D: Discovery + ?Sized>(
        discovery: &D,
        service: &str,
        config: super::ChannelConfig,
        price: Option<crate::codec::NetworkPrice>,
    ) -> Self {
        let (generation, _) = watch::channel(0);
        let (alive, _) = watch::channel(());
        let shared = Arc::new(Shared {
            service: service.to_owned(),
            endpoints: RwLock::new(Arc::new(Vec::new())),
            generation,
            alive,
            seed: AtomicU64::new(seed()),
            budget: super::budget::RetryBudget::default(),
            retries: AtomicU64::new(0),
            budget_refusals: AtomicU64::new(0),
            ejections: AtomicU64::new(0),
        });
        let changes = discovery.discover(service);
        tokio::spawn(apply_changes(
            Arc::downgrade(&shared),
            changes,
            config,
            price,
        ));
        Self { shared }
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Endpoint>>> {
        Arc::clone(
            &self
                .shared
                .endpoints
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The ids of the known instances.
    pub(crate) fn instance_ids(&self) -> Vec<String> {
        self.snapshot().iter().map(|e| e.id.clone()).collect()
    }

    /// The service name.
    pub(crate) fn service(&self) -> &str {
        &self.shared.service
    }

    /// Counts a call in the retry budget.
    pub(crate) fn count_call(&self) {
        self.shared.budget.deposit(Instant::now());
    }

    /// Takes a retry from the budget, if it has one (counting the retry, or the refusal).
    pub(crate) fn take_retry(&self) -> bool {
        let granted = self.shared.budget.try_withdraw(Instant::now());
        let counter = if granted {
            &self.shared.retries
        } else {
            &self.shared.budget_refusals
        };
        counter.fetch_add(1, Ordering::Relaxed);
        granted
    }

    /// The call on `endpoint` failed below gRPC: eject it for a while, and count that.
    pub(crate) fn failed(&self, endpoint: &Endpoint) {
        endpoint.failed();
        self.shared.ejections.fetch_add(1, Ordering::Relaxed);
    }

    /// The channel's counters.
    pub(crate) fn stats(&self) -> ChannelStats {
        self.shared.stats()
    }

    /// A handle on the counters that does not keep the channel alive.
    #[cfg(feature = "metrics")]
    pub(crate) fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::downgrade(&self.shared))
    }

    /// Picks an endpoint other than `avoid`, waiting for the first instances to be
    /// discovered until `give_up` (the call's deadline). `None` if there is nothing else to
    /// pick once instances are known, or at `give_up` without any.
    pub(crate) async fn pick(&self, avoid: Option<&str>, give_up: Instant) -> Option<InFlight> {
        let mut generation = self.shared.generation.subscribe();
        loop {
            let endpoints = self.snapshot();
            if !endpoints.is_empty() {
                let chosen = self.choose(&endpoints, avoid)?;
                chosen.pending.fetch_add(1, Ordering::Relaxed);
                return Some(InFlight(chosen));
            }
            give_up.checked_duration_since(Instant::now())?;
            // At the very instant of the call's deadline: when both timers fire together,
            // this one is polled first and the caller learns that nothing was there to call.
            if tokio::time::timeout_at(give_up.into(), generation.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Power of two choices among available endpoints; if all are ejected, the one whose
    /// ejection ends first (a failing set is still tried rather than refused).
    fn choose(&self, endpoints: &[Arc<Endpoint>], avoid: Option<&str>) -> Option<Arc<Endpoint>> {
        let now = Instant::now();
        let eligible = |e: &&Arc<Endpoint>| avoid != Some(e.id.as_str());
        let available = endpoints
            .iter()
            .filter(eligible)
            .filter(|e| e.available(now))
            .count();
        if available == 0 {
            return endpoints
                .iter()
                .filter(eligible)
                .min_by_key(|e| e.ejected_until.load(Ordering::Relaxed))
                .cloned();
        }
        let nth = |n: usize| {
            endpoints
                .iter()
                .filter(eligible)
                .filter(|e| e.available(now))
                .nth(n)
                .cloned()
        };
        if available == 1 {
            return nth(0);
        }
        let r = self.next_random();
        let a = usize::try_from(r % available as u64).unwrap_or(0);
        let mut b = usize::try_from((r >> 32) % (available as u64 - 1)).unwrap_or(0);
        if b >= a {
            b += 1;
        }
        let (a, b) = (nth(a)?, nth(b)?);
        Some(
            if b.pending.load(Ordering::Relaxed) < a.pending.load(Ordering::Relaxed) {
                b
            } else {
                a
            },
        )
    }

    /// xorshift64*: balancing needs spread, not cryptographic randomness.
    fn next_random(&self) -> u64 {
        let mut x = self.shared.seed.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.shared.seed.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() | 1
}

/// The network price of a channel in zone `local` to instances in `zones`: the same zone
/// when every instance that names its zone is in `local`, another zone's price as soon as
/// one is elsewhere (a call may go to any of them).
pub(crate) fn zone_price<'a>(local: &str, zones: impl Iterator<Item = &'a str>) -> f64 {
    use crate::codec::NetworkPrice;
    let elsewhere = zones.filter(|z| !z.is_empty()).any(|z| z != local);
    if elsewhere {
        NetworkPrice::CROSS_ZONE
    } else {
        NetworkPrice::SAME_ZONE
    }
}

/// Applies discovery changes until the balancer is dropped.
async fn apply_changes(
    shared: Weak<Shared>,
    mut changes: arpc_registry::Changes,
    config: super::ChannelConfig,
    price: Option<crate::codec::NetworkPrice>,
) {
    let mut closed = match shared.upgrade() {
        Some(s) => s.alive.subscribe(),
        None => return,
    };
    loop {
        let change = tokio::select! {
            change = changes.next() => change,
            // Nothing is ever sent: this returns when `Shared`, and the balancer, are gone.
            _ = closed.changed() => return,
        };
        let Some(change) = change else {
            // The registry ended its stream: keep the last known instances.
            let _ = closed.wait_for(|_| false).await;
            return;
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Ok(change) = change else {
            continue;
        };
        let mut list = shared
            .endpoints
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut next: Vec<Arc<Endpoint>> = list.as_ref().clone();
        match change {
            Change::Insert(id, instance) => {
                let Ok(connection) = super::Connection::lazy(&instance.uri(), config.clone())
                else {
                    continue;
                };
                next.retain(|e| e.id != id);
                next.push(Arc::new(Endpoint {
                    id,
                    channel: connection,
                    pending: AtomicUsize::new(0),
                    failures: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                    epoch: Instant::now(),
                    zone: instance.meta.zone.clone(),
                }));
            }
            Change::Remove(id) => next.retain(|e| e.id != id),
        }
        if let (Some(price), Some(local)) = (&price, &config.zone) {
            price.set(zone_price(local, next.iter().map(|e| e.zone.as_str())));
        }
        *list = Arc::new(next);
        drop(list);
        shared.generation.send_modify(|g| *g += 1);
    }
}
