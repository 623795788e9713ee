//! The hub's Prometheus series, served with arpc's per-method series on one endpoint
//! (`datahub serve --metrics-addr ADDR`, `GET /metrics`).
//!
//! | series | what |
//! |---|---|
//! | `hub_published_events_total{domain}` | events a publisher accepted |
//! | `hub_applied_events_total{domain}` | events the listener applied (committed) |
//! | `hub_publish_to_applied_seconds{domain}` | from the log append to the commit, a histogram |
//! | `hub_partition_lag{group,partition}` | records not yet processed, per log partition |
//! | `hub_partition_paused{group,partition,reason}` | 1 while paused (`admin: WHY`, `backpressure`, `stalled`) |
//! | `hub_remote_invalidations_failed_total` | invalidations a query process elsewhere did not confirm within 1 s |
//! | `hub_cache_hits_total`, `hub_cache_misses_total`, `hub_coalesced_reads_total` | the screen cache |
//! | `hub_shard_reads_total`, `hub_moved_retries_total` | the read path's shard reads, and those routed again after `MOVED` |
//! | `hub_move_phase{group,lp,phase}` | 1 per move in progress |
//! | `hub_move_write_pause_seconds{group,lp}` | a switched move's write pause |
//!
//! Counters and the histogram are process-wide (one hub per process); the gauges are read
//! from the hub's state when scraped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Weak};

use arpc::metrics::Metrics;
use arpc::metrics::prometheus_client::collector::Collector;
use arpc::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use arpc::metrics::prometheus_client::metrics::MetricType;
use arpc::metrics::prometheus_client::metrics::counter::{ConstCounter, Counter};
use arpc::metrics::prometheus_client::metrics::family::Family;
use arpc::metrics::prometheus_client::metrics::gauge::ConstGauge;
use arpc::metrics::prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::directory::{Directory, MovePhase};
use crate::listener::Listener;
use crate::model::Domain;
use crate::query::QueryService;

type Labels = Vec<(&'static str, String)>;

/// The process-wide counters.
pub struct HubCounters {
    published: Family<Labels, Counter>,
    applied: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    /// Per domain id, resolved once.
    published_by_domain: Vec<Counter>,
    applied_by_domain: Vec<Counter>,
    latency_by_domain: Vec<Histogram>,
    remote_invalidations_failed: Counter,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn domain_labels(d: Domain) -> Labels {
    vec![("domain", d.name().to_owned())]
}

static COUNTERS: LazyLock<HubCounters> = LazyLock::new(|| {
    let published = Family::<Labels, Counter>::default();
    let applied = Family::<Labels, Counter>::default();
    let latency: Family<Labels, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(latency_histogram);
    let domains: Vec<Domain> = (0..=8)
        .map(|id| Domain::from_id(id).unwrap_or_default())
        .collect();
    HubCounters {
        published_by_domain: domains
            .iter()
            .map(|d| published.get_or_create(&domain_labels(*d)).clone())
            .collect(),
        applied_by_domain: domains
            .iter()
            .map(|d| applied.get_or_create(&domain_labels(*d)).clone())
            .collect(),
        latency_by_domain: domains
            .iter()
            .map(|d| latency.get_or_create(&domain_labels(*d)).clone())
            .collect(),
        published,
        applied,
        remote_invalidations_failed: Counter::default(),
        latency,
    }
});

/// The process-wide counters.
pub fn counters() -> &'static HubCounters {
    &COUNTERS
}

impl HubCounters {
    /// An event of `domain` was accepted by a publisher.
    pub fn published(&self, domain: Domain) {
        if let Some(c) = self.published_by_domain.get(usize::from(domain.id())) {
            c.inc();
        }
    }

    /// A query process in another process did not confirm an invalidation in time.
    pub fn remote_invalidation_failed(&self) {
        self.remote_invalidations_failed.inc();
    }

    /// An event of `domain` was applied, `ms` after it was logged.
    pub fn applied(&self, domain: Domain, ms: i64) {
        let i = usize::from(domain.id());
        if let Some(c) = self.applied_by_domain.get(i) {
            c.inc();
        }
        if let Some(h) = self.latency_by_domain.get(i) {
            #[allow(clippy::cast_precision_loss)]
            h.observe(ms.max(0) as f64 / 1000.0);
        }
    }
}

/// The gauges read from a hub's state at each scrape.
struct HubCollector {
    listener: Option<Weak<Listener>>,
    directory: Directory,
    query: QueryService,
}

impl std::fmt::Debug for HubCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubCollector").finish_non_exhaustive()
    }
}

impl Collector for HubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(listener) = self.listener.as_ref().and_then(Weak::upgrade) {
            let status = listener.status();
            let mut lag = encoder.encode_descriptor(
                "hub_partition_lag",
                "Records of the log partition not yet processed",
                None,
                MetricType::Gauge,
            )?;
            for p in &status.partitions {
                let labels: Labels = vec![
                    ("group", p.group.to_string()),
                    ("partition", p.partition.to_string()),
                ];
                #[allow(clippy::cast_possible_wrap)]
                ConstGauge::new(p.lag as i64).encode(lag.encode_family(&labels)?)?;
            }
            let mut paused = encoder.encode_descriptor(
                "hub_partition_paused",
                "1 while the log partition is paused, with why",
                None,
                MetricType::Gauge,
            )?;
            for p in &status.partitions {
                let reason = match (&p.paused, &p.stalled, p.backpressure) {
                    (Some(why), _, _) => format!("admin: {why}"),
                    // A stall's text is an error message (unbounded): the label says only
                    // that it is one; `datahub admin listeners` shows why.
                    (None, Some(_), _) => "stalled".to_owned(),
                    (None, None, true) => "backpressure".to_owned(),
                    (None, None, false) => continue,
                };
                let labels: Labels = vec![
                    ("group", p.group.to_string()),
                    ("partition", p.partition.to_string()),
                    ("reason", reason),
                ];
                ConstGauge::new(1i64).encode(paused.encode_family(&labels)?)?;
            }
        }
        let cache = self.query.cache_stats();
        let reads = self.query.stats();
        let counters: [(&str, &str, u64); 5] = [
            (
                "hub_cache_hits",
                "Screen parts answered from the cache",
                cache.hits.load(Ordering::Relaxed),
            ),
            (
                "hub_cache_misses",
                "Screen parts not in the cache (or invalidated)",
                cache.misses.load(Ordering::Relaxed),
            ),
            (
                "hub_coalesced_reads",
                "Misses that joined a shard read already in flight",
                cache.coalesced.load(Ordering::Relaxed),
            ),
            (
                "hub_shard_reads",
                "Shard reads made by the read path",
                reads.shard_reads.load(Ordering::Relaxed),
            ),
            (
                "hub_moved_retries",
                "Reads routed again after the shard answered MOVED",
                reads.moved_retries.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let snapshot = self.directory.snapshot();
        let mut phase = encoder.encode_descriptor(
            "hub_move_phase",
            "1 per partition move in progress, with its phase",
            None,
            MetricType::Gauge,
        )?;
        for job in snapshot.state.moves.iter().filter(|j| !j.phase.is_final()) {
            let labels: Labels = vec![
                ("group", job.lp.group.to_string()),
                ("lp", job.lp.lp.to_string()),
                ("phase", job.phase.name().to_owned()),
            ];
            ConstGauge::new(1i64).encode(phase.encode_family(&labels)?)?;
        }
        let mut pause = encoder.encode_descriptor(
            "hub_move_write_pause_seconds",
            "The write pause of a switched move's cutover",
            None,
            MetricType::Gauge,
        )?;
        for job in &snapshot.state.moves {
            if let (Some(ms), true) = (job.pause_ms, job.phase != MovePhase::RolledBack) {
                let labels: Labels = vec![
                    ("group", job.lp.group.to_string()),
                    ("lp", job.lp.lp.to_string()),
                ];
                ConstGauge::new(ms / 1000.0).encode(pause.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Registers the hub's series in `metrics`: the process-wide counters, and the gauges of
/// this hub's listener, directory and read path.
pub fn register(
    metrics: &Metrics,
    listener: Option<&Arc<Listener>>,
    directory: Directory,
    query: QueryService,
) {
    let c = counters();
    metrics.register(
        "hub_published_events",
        "Events accepted by a publisher",
        c.published.clone(),
    );
    metrics.register(
        "hub_applied_events",
        "Events applied (committed) by the listener",
        c.applied.clone(),
    );
    metrics.register(
        "hub_publish_to_applied_seconds",
        "From the log append to the listener's commit",
        c.latency.clone(),
    );
    metrics.register(
        "hub_remote_invalidations_failed",
        "Invalidations a query process elsewhere did not confirm within 1 s",
        c.remote_invalidations_failed.clone(),
    );
    metrics.register_collector(Box::new(HubCollector {
        listener: listener.map(Arc::downgrade),
        directory,
        query,
    }));
}
