//! Prometheus metrics (feature `metrics`, on by default), on
//! [`prometheus-client`](https://docs.rs/prometheus-client).
//!
//! A [`Metrics`] handle owns a registry; its [`MetricsLayer`] is a tower layer that records
//! every call a server answers. Add it with [`ServerBuilder::metrics`] (which also reports the
//! server's blocking pool), or with [`ServerBuilder::metrics_addr`], which serves the text
//! exposition at `http://ADDR/metrics` too. To serve it yourself, mount [`Metrics::render`]
//! in your own HTTP server, or call [`Metrics::serve`] with a listener.
//!
//! | series | labels | what |
//! |---|---|---|
//! | `arpc_server_calls_total` | service, method, request_codec, response_codec, request_compression, response_compression, code | calls answered |
//! | `arpc_server_call_duration_seconds` | service, method, request_codec, response_codec, request_compression, response_compression | time from request to response (histogram) |
//! | `arpc_server_request_bytes_total` / `arpc_server_response_bytes_total` | service, method, request_codec, response_codec, request_compression, response_compression | framed message bytes, as sent (compressed or not) |
//! | `arpc_server_calls_in_flight` | service, method | calls being served now |
//! | `arpc_server_pool_busy_threads` / `arpc_server_pool_queued_calls` | — | the blocking pools of the servers reporting here |
//! | `arpc_server_refused_calls_total` | — | calls answered `RESOURCE_EXHAUSTED` (a full pool, a message over the limit) |
//! | `arpc_client_retries_total` | service | calls a discovering channel sent a second time, to another instance |
//! | `arpc_client_retry_budget_refusals_total` | service | retries its retry budget refused |
//! | `arpc_client_ejections_total` | service | instances it ejected after a failed call |
//!
//! The client series cover the channels given to [`Metrics::watch_channel`].
//!
//! Labels are bounded: `method` is the path of an arpc method the server answered at least
//! once, or `*` for the streamed services (reflection); a path no service answers is counted
//! under service and method `unknown`, so hostile paths cannot create series. A method's
//! first call is not counted in `calls_in_flight` (its label is learnt from the answer).
//!
//! [`ServerBuilder::metrics`]: crate::server::ServerBuilder::metrics
//! [`ServerBuilder::metrics_addr`]: crate::server::ServerBuilder::metrics_addr

mod client;
mod endpoint;
mod future;
mod layer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::server::BlockingPool;

/// The Prometheus client arpc's metrics are built on, for an application's own series
/// ([`Metrics::register`]).
pub use prometheus_client;

pub use self::future::ResponseFuture;
pub use self::layer::{MetricsLayer, MetricsService};

/// How many distinct method paths a [`Metrics`] learns as labels; later ones are `unknown`.
const MAX_METHODS: usize = 10_000;

/// Labels of a call's counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: &'static str,
    method: &'static str,
    request_codec: &'static str,
    response_codec: &'static str,
    request_compression: &'static str,
    response_compression: &'static str,
    code: &'static str,
}

/// Labels of a call's sizes and duration.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodecLabels {
    service: &'static str,
    method: &'static str,
    request_codec: &'static str,
    response_codec: &'static str,
    request_compression: &'static str,
    response_compression: &'static str,
}

/// Labels of calls in flight.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    service: &'static str,
    method: &'static str,
}

fn duration_histogram() -> Histogram {
    // 50 µs to about 6.5 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
}

/// A registry of arpc's series. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: RwLock<Registry>,
    calls: Family<CallLabels, Counter>,
    duration: Family<CodecLabels, Histogram, fn() -> Histogram>,
    request_bytes: Family<CodecLabels, Counter>,
    response_bytes: Family<CodecLabels, Counter>,
    in_flight: Family<MethodLabels, Gauge>,
    pool_busy: Gauge,
    pool_queued: Gauge,
    refused: Counter,
    pools: Mutex<Vec<BlockingPool>>,
    clients: client::ClientCollector,
    /// Method paths seen in answers, as the `'static` labels they were answered under.
    methods: RwLock<HashMap<Box<str>, &'static str>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry with arpc's series.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let calls = Family::<CallLabels, Counter>::default();
        let duration: Family<CodecLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        let request_bytes = Family::<CodecLabels, Counter>::default();
        let response_bytes = Family::<CodecLabels, Counter>::default();
        let in_flight = Family::<MethodLabels, Gauge>::default();
        let (pool_busy, pool_queued, refused) =
            (Gauge::default(), Gauge::default(), Counter::default());
        registry.register("arpc_server_calls", "Calls answered", calls.clone());
        registry.register_with_unit(
            "arpc_server_call_duration",
            "Time from request to response",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            "arpc_server_request",
            "Framed request message bytes",
            Unit::Bytes,
            request_bytes.clone(),
        );
        registry.register_with_unit(
            "arpc_server_response",
            "Framed response message bytes",
            Unit::Bytes,
            response_bytes.clone(),
        );
        registry.register(
            "arpc_server_calls_in_flight",
            "Calls being served now",
            in_flight.clone(),
        );
        registry.register(
            "arpc_server_pool_busy_threads",
            "Blocking-pool threads running a handler",
            pool_busy.clone(),
        );
        registry.register(
            "arpc_server_pool_queued_calls",
            "Write calls waiting for a blocking-pool thread",
            pool_queued.clone(),
        );
        registry.register(
            "arpc_server_refused_calls",
            "Calls answered RESOURCE_EXHAUSTED",
            refused.clone(),
        );
        let clients = client::ClientCollector::default();
        registry.register_collector(Box::new(clients.clone()));
        Self {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                calls,
                duration,
                request_bytes,
                response_bytes,
                in_flight,
                pool_busy,
                pool_queued,
                refused,
                pools: Mutex::new(Vec::new()),
                clients,
                methods: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The layer that records calls into this registry.
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer::new(self.clone())
    }

    /// Reports `pool`'s busy threads and queue in this registry (the servers built with
    /// [`ServerBuilder::metrics`](crate::server::ServerBuilder::metrics) do this).
    pub fn watch_pool(&self, pool: &BlockingPool) {
        self.inner
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(pool.clone());
    }

    /// Reports a discovering `channel`'s retries, retry-budget refusals and ejections here, for
    /// as long as the channel lives (a channel to one address has none; it is ignored).
    pub fn watch_channel(&self, channel: &crate::Channel) {
        if let Some(handle) = channel.stats_handle() {
            self.inner.clients.watch(handle);
        }
    }

    /// Registers an application's own metric next to arpc's series: the same endpoint (or
    /// [`render`](Self::render)) serves both. `metric` is a [`prometheus_client`] metric
    /// (a counter, gauge, histogram, or a family of them, re-exported here so the versions
    /// match); keep a clone to update it.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.inner
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .register(name, help, metric);
    }

    /// Registers a collector: series computed when scraped (gauges read from an
    /// application's state, say), served with arpc's. Its `encode` runs while the registry
    /// is locked for the scrape: it must not call [`render`](Self::render) or register.
    pub fn register_collector(&self, collector: Box<dyn prometheus_client::collector::Collector>) {
        self.inner
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .register_collector(collector);
    }

    /// The registry in the Prometheus/OpenMetrics text format.
    pub fn render(&self) -> String {
        let (mut busy, mut queued) = (0, 0);
        for pool in self
            .inner
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let admitted = pool.in_flight();
            let threads = pool.config().threads;
            busy += admitted.min(threads);
            queued += admitted.saturating_sub(threads);
        }
        self.inner
            .pool_busy
            .set(i64::try_from(busy).unwrap_or(i64::MAX));
        self.inner
            .pool_queued
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// The label a method path is known under, if it has been answered before.
    fn known_method(&self, path: &str) -> Option<&'static str> {
        self.inner
            .methods
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .copied()
    }

    /// Learns `method` (a `'static` path from an answer) as a label.
    fn learn_method(&self, method: &'static str) {
        if self.known_method(method).is_some() {
            return;
        }
        let mut methods = self
            .inner
            .methods
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if methods.len() < MAX_METHODS {
            methods.insert(method.into(), method);
            // The series exists (at 0) from the method's first answer on.
            drop(self.inner.in_flight.get_or_create(&MethodLabels {
                service: service_of(method),
                method,
            }));
        }
    }
}

/// The service part of a method path (`/pkg.Service/Method` → `pkg.Service`).
fn service_of(method: &'static str) -> &'static str {
    crate::wire::split_path(method).map_or(method, |(service, _)| service)
}
