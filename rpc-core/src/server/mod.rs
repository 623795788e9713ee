//! The server: [`Server::builder`] collects services and settings, then serves them over
//! HTTP/2 (h2c) with hyper.
//!
//! A call goes through tower services on two levels. Over HTTP: the [`TraceService`]
//! (outermost), the user's layers ([`ServerBuilder::layer`], metrics), the [`Router`], the
//! generated service. Inside a method (`method.rs`: read the request, decode, run, encode):
//! the handler as a service of decoded requests, wrapped in [`deadline`] (the caller's
//! `grpc-timeout` or the method's default → `DEADLINE_EXCEEDED`) and, for a read,
//! [`catch_panic`] (→ `INTERNAL`, the server keeps serving), or, for a write, [`load_shed`]
//! over a [`BlockingHandler`] whose `poll_ready` reserves a blocking-pool place (a full pool →
//! `RESOURCE_EXHAUSTED` at once).
//!
//! [`TraceService`]: crate::trace::TraceService
//!
//! Defaults, and why:
//!
//! | setting | default | why |
//! |---|---|---|
//! | max concurrent streams per connection | 256 | bounded, unlike tonic's unlimited default: one client cannot open unbounded work |
//! | locally generated resets per connection | 1024 | h2's guard against reset floods (CVE-2023-44487-style) stays on |
//! | max header list size | 16 KiB | headers are metadata, not payload |
//! | max message | 4 MiB each way ([`DEFAULT_MAX_MESSAGE_BYTES`]); per server with [`ServerBuilder::max_message_bytes`], per method with `#[arpc(max_message_bytes = N)]` or the generated server's `max_request_bytes`/`max_response_bytes` (a method's own limit wins) | bounds the memory of one call; over it is `RESOURCE_EXHAUSTED` |
//! | HTTP/2 keepalive | ping every 30 s, 10 s to answer | finds dead peers behind NATs and load balancers |
//! | concurrent connections | 10,000 | each holds buffers and a task; past the cap the server stops accepting (new connections wait in the kernel's backlog) rather than run out of memory or descriptors |
//! | first-request timeout | 60 s | a connection that sends no request in time (a port scan, a stuck TLS handshake, a slow-loris) is closed and its slot freed; a client that connects ahead and idles longer reconnects on its next call |
//! | blocking pool | 16 threads, queue of 64 ([`PoolConfig`]) | writes never stall reads; overload is refused, not queued without bound |
//! | graceful shutdown | 30 s | in-flight calls finish; new connections are refused at once |
//! | network price for `Auto` responses | each method's `AutoConfig::network_ns_per_byte` (0.8 ns/byte, the same zone); per server with [`ServerBuilder::network_price`], per service with the generated server's `with_network_price` | what a byte on the wire costs depends on where the callers are, which the server is told, not guesses |

mod body;
pub mod catch_panic;
pub mod deadline;
mod handler;
pub mod load_shed;
mod method;
mod pool;
mod router;
mod service;

pub(crate) use self::body::answered_code;
pub use self::body::{BoxError, RequestBody, ResponseBody};
pub use self::handler::{AsyncHandler, BlockingHandler};
pub use self::method::{
    CallInfo, DEFAULT_MAX_MESSAGE_BYTES, MethodConfig, MethodRuntime, PeerAddr, unary_async,
    unary_blocking, unimplemented,
};
pub use self::pool::{BlockingPool, JobPanicked, PoolConfig, PoolFull, Reservation};
pub use self::router::RoutedService;
pub use self::router::Router;
pub use self::service::ServerService;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::Layer;
use tower::layer::util::{Identity, Stack};

use crate::codec::NetworkPrice;
use crate::schema::ServiceSchema;
use crate::wire::UnaryBody;

/// What `arpc::Server` needs of a service; implemented by the server types that
/// `#[arpc::service]` generates (`FooServer<T>`). They also implement tonic's
/// `NamedService`, so they mount in tonic's `Routes` and, through it, in axum.
pub trait Service:
    tower::Service<
        Request<RequestBody>,
        Response = Response<UnaryBody>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The service's schema (name, package, methods).
    fn schema() -> &'static ServiceSchema;

    /// Runs the service's write handlers on `pool` instead of the shared default pool.
    fn set_blocking_pool(&mut self, pool: BlockingPool);

    /// Weighs each byte of the service's `Auto` responses by `price`, the server's (see
    /// [`ServerBuilder::network_price`]), unless the service was given its own. The default
    /// does nothing (a service without `Auto` methods has nothing to price).
    fn set_network_price(&mut self, price: NetworkPrice) {
        let _ = price;
    }
}

/// What the router becomes once wrapped in a server's layers, to be served: a tower service
/// of `RequestBody` requests answering `ResponseBody` responses, whose errors become statuses.
pub trait Served:
    tower::Service<
        Request<RequestBody>,
        Response = Response<ResponseBody>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> Served for S where
    S: tower::Service<
            Request<RequestBody>,
            Response = Response<ResponseBody>,
            Error: Into<BoxError>,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Entry point: `arpc::Server::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct Server;

impl Server {
    /// A builder with the documented defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Server settings. See the module docs for the defaults and their reasons.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub max_concurrent_streams: u32,
    /// How many streams the server may reset for protocol errors before closing the
    /// connection (h2's `max_local_error_reset_streams`).
    pub max_local_error_reset_streams: usize,
    /// HTTP/2 `SETTINGS_MAX_HEADER_LIST_SIZE`.
    pub max_header_list_size: u32,
    /// Interval of HTTP/2 keepalive pings; `None` disables them.
    pub keepalive_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered before the connection is closed.
    pub keepalive_timeout: Duration,
    /// The most connections served at once; past it the server stops accepting until one
    /// closes.
    pub max_connections: usize,
    /// How long a new connection may take (TLS handshake included) to send its first
    /// request before it is closed.
    pub first_request_timeout: Duration,
    /// The blocking pool for write handlers.
    pub blocking: PoolConfig,
    /// How long graceful shutdown waits for in-flight calls.
    pub shutdown_grace: Duration,
    /// The largest request message, for methods that set no limit of their own.
    pub max_request_bytes: usize,
    /// The largest response message, for methods that set no limit of their own.
    pub max_response_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 256,
            max_local_error_reset_streams: 1024,
            max_header_list_size: 16 * 1024,
            keepalive_interval: Some(Duration::from_secs(30)),
            keepalive_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            first_request_timeout: Duration::from_secs(60),
            blocking: PoolConfig::default(),
            shutdown_grace: Duration::from_secs(30),
            max_request_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_response_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Aborts a task when dropped.
#[cfg(feature = "metrics")]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

#[cfg(feature = "metrics")]
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Collects services, settings and layers; see [`Server::builder`].
///
/// `L` is the stack of the user's tower layers ([`layer`](Self::layer)) around the router.
pub struct ServerBuilder<L = Identity> {
    config: ServerConfig,
    router: Router,
    pool: Option<BlockingPool>,
    health: crate::health::HealthReporter,
    without_health: bool,
    without_reflection: bool,
    schemas: Vec<&'static ServiceSchema>,
    registrar: Option<std::sync::Arc<dyn arpc_registry::Registrar>>,
    advertise: Option<SocketAddr>,
    /// The price of a byte that services added from now on weigh in their `Auto` responses.
    price: Option<NetworkPrice>,
    layer: L,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ServerTls>,
    /// Registries that report this server's blocking pool.
    #[cfg(feature = "metrics")]
    metrics: Vec<crate::metrics::Metrics>,
    /// Where [`serve`](Self::serve) also serves the metrics text.
    #[cfg(feature = "metrics")]
    metrics_addr: Option<(SocketAddr, crate::metrics::Metrics)>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            config: ServerConfig::default(),
            router: Router::default(),
            pool: None,
            health: crate::health::HealthReporter::default(),
            without_health: false,
            without_reflection: false,
            schemas: Vec::new(),
            registrar: None,
            advertise: None,
            price: None,
            layer: Identity::new(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "metrics")]
            metrics: Vec::new(),
            #[cfg(feature = "metrics")]
            metrics_addr: None,
        }
    }
}

impl<L> std::fmt::Debug for ServerBuilder<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("router", &self.router)
            .field("without_health", &self.without_health)
            .field("without_reflection", &self.without_reflection)
            .finish_non_exhaustive()
    }
}

impl<L> ServerBuilder<L> {
    /// Registers every added service at the advertised address (one instance id for all).
    fn register(&self, listener: &TcpListener) -> Vec<arpc_registry::Registration> {
        let (Some(registrar), Some(addr)) = (
            &self.registrar,
            self.advertise.or_else(|| listener.local_addr().ok()),
        ) else {
            return Vec::new();
        };
        let id = arpc_registry::Instance::new_id();
        self.schemas
            .iter()
            .map(|schema| {
                let mut instance = arpc_registry::Instance::new(schema.full_name, addr);
                instance.id.clone_from(&id);
                registrar.register(instance)
            })
            .collect()
    }

    fn limits(&self) -> method::MessageLimits {
        method::MessageLimits {
            request: self.config.max_request_bytes,
            response: self.config.max_response_bytes,
        }
    }

    /// The router of every added service, plus health and reflection unless turned off.
    fn full_router(&self) -> Router {
        use crate::health::HealthServer;
        let mut router = self.router.clone();
        let mut schemas = self.schemas.clone();
        if !self.without_health {
            let schema = HealthServer::<crate::health::HealthReporter>::schema();
            router = router.add(schema.full_name, HealthServer::new(self.health.clone()));
            schemas.push(schema);
        }
        if !self.without_reflection
            && let Some((v1, v1alpha)) = crate::reflection::services(&schemas)
        {
            let [v1_name, v1alpha_name] = crate::reflection::SERVICE_NAMES;
            router = router
                .add_tonic(v1_name, v1)
                .add_tonic(v1alpha_name, v1alpha);
        }
        router
    }
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding the address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

impl<L> ServerBuilder<L> {
    /// Wraps every call this server serves in `layer`, a tower layer: authentication,
    /// logging, a concurrency limit, a user's own middleware. The first layer added is the
    /// outermost, as with tower's `ServiceBuilder`. A layer sees `http::Request<RequestBody>`
    /// (the call's peer address is in its extensions as [`PeerAddr`]) and answers
    /// `http::Response<ResponseBody>`; an error it returns is answered as a gRPC status
    /// (a [`Status`](crate::Status) as it is, tower's timeout `DEADLINE_EXCEEDED`, tower's
    /// load shedding `RESOURCE_EXHAUSTED`, anything else `UNKNOWN`).
    ///
    /// ```
    /// use arpc::server::RequestBody;
    ///
    /// // Count every call, whatever the service.
    /// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    /// let counted = std::sync::Arc::clone(&calls);
    /// let builder = arpc::Server::builder().layer(tower::layer::layer_fn(move |inner| {
    ///     let counted = std::sync::Arc::clone(&counted);
    ///     tower::util::MapRequest::new(inner, move |r: http::Request<RequestBody>| {
    ///         counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ///         r
    ///     })
    /// }));
    /// # let _ = builder.into_service();
    /// ```
    pub fn layer<N>(self, layer: N) -> ServerBuilder<Stack<N, L>> {
        ServerBuilder {
            config: self.config,
            router: self.router,
            pool: self.pool,
            health: self.health,
            without_health: self.without_health,
            without_reflection: self.without_reflection,
            schemas: self.schemas,
            registrar: self.registrar,
            advertise: self.advertise,
            price: self.price,
            layer: Stack::new(layer, self.layer),
            #[cfg(feature = "tls")]
            tls: self.tls,
            #[cfg(feature = "metrics")]
            metrics: self.metrics,
            #[cfg(feature = "metrics")]
            metrics_addr: self.metrics_addr,
        }
    }

    /// Records every call in `metrics` (a [`MetricsLayer`](crate::metrics::MetricsLayer)
    /// around what is built so far; layers added later wrap it) and reports this server's
    /// blocking pool there. Serve the registry with [`Metrics::serve`](crate::metrics::Metrics::serve)
    /// or [`Metrics::render`](crate::metrics::Metrics::render), or use
    /// [`metrics_addr`](Self::metrics_addr).
    #[cfg(feature = "metrics")]
    pub fn metrics(
        mut self,
        metrics: &crate::metrics::Metrics,
    ) -> ServerBuilder<Stack<crate::metrics::MetricsLayer, L>> {
        self.metrics.push(metrics.clone());
        self.layer(metrics.layer())
    }

    /// Records every call in a new registry (as [`metrics`](Self::metrics) does), served as
    /// text at `http://ADDR/metrics` while [`serve`](Self::serve) runs.
    #[cfg(feature = "metrics")]
    pub fn metrics_addr(
        mut self,
        addr: SocketAddr,
    ) -> ServerBuilder<Stack<crate::metrics::MetricsLayer, L>> {
        let metrics = crate::metrics::Metrics::new();
        self.metrics_addr = Some((addr, metrics.clone()));
        self.metrics(&metrics)
    }

    /// Lets the registries of [`metrics`](Self::metrics) see the blocking pool.
    fn watch_pool(&self) {
        #[cfg(feature = "metrics")]
        if let Some(pool) = &self.pool {
            for m in &self.metrics {
                m.watch_pool(pool);
            }
        }
    }

    /// Replaces every setting.
    #[must_use]
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the blocking pool's size and queue.
    #[must_use]
    pub fn blocking_pool(mut self, pool: PoolConfig) -> Self {
        self.config.blocking = pool;
        self.pool = None;
        self
    }

    /// Sets `SETTINGS_MAX_CONCURRENT_STREAMS`.
    #[must_use]
    pub fn max_concurrent_streams(mut self, n: u32) -> Self {
        self.config.max_concurrent_streams = n;
        self
    }

    /// Sets the request and response size limits of every method that sets none of its own
    /// (default 4 MiB each way).
    #[must_use]
    pub fn max_message_bytes(mut self, limit: usize) -> Self {
        self.config.max_request_bytes = limit;
        self.config.max_response_bytes = limit;
        self
    }

    /// Sets the most connections served at once (default 10,000).
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n.max(1);
        self
    }

    /// Sets how long a new connection may take to send its first request (default 60 s).
    #[must_use]
    pub fn first_request_timeout(mut self, timeout: Duration) -> Self {
        self.config.first_request_timeout = timeout;
        self
    }

    /// Sets the graceful-shutdown grace period.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Serves TLS (HTTP/2 negotiated by ALPN) instead of h2c.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The health state this server reports through `grpc.health.v1.Health`: the server sets
    /// it to `SERVING` when it starts serving and `NOT_SERVING` when shutdown starts;
    /// applications may set their own services' status through it.
    pub fn health_reporter(&self) -> crate::health::HealthReporter {
        self.health.clone()
    }

    /// Does not serve `grpc.health.v1.Health`.
    #[must_use]
    pub fn without_health(mut self) -> Self {
        self.without_health = true;
        self
    }

    /// Does not serve gRPC server reflection (`grpc.reflection.v1` and `v1alpha`), for servers
    /// that should not describe themselves to whoever connects.
    #[must_use]
    pub fn without_reflection(mut self) -> Self {
        self.without_reflection = true;
        self
    }

    /// Announces this server's services in `registrar` (ZooKeeper, say) while it serves: each
    /// added service is registered once the listener is bound and health says `SERVING`, and
    /// deregistered first on shutdown, before connections drain. The address announced is
    /// the listener's, or the one given to [`advertise`](Self::advertise).
    #[must_use]
    pub fn registry(mut self, registrar: impl arpc_registry::Registrar) -> Self {
        self.registrar = Some(std::sync::Arc::new(registrar));
        self
    }

    /// The address to announce in the registry, when the listener's is not the one clients
    /// should dial (a wildcard bind, NAT, a container).
    #[must_use]
    pub fn advertise(mut self, addr: SocketAddr) -> Self {
        self.advertise = Some(addr);
        self
    }

    /// Sets the price of a byte on the wire that the `Auto` methods of services added from
    /// now on weigh when they choose how to send their responses (a service's own
    /// `with_network_price` wins). By default each method weighs its
    /// `AutoConfig::network_ns_per_byte` (0.8 ns, [`NetworkPrice::SAME_ZONE`]); a server
    /// answering callers in other zones or regions sets theirs
    /// ([`NetworkPrice::CROSS_ZONE`], [`NetworkPrice::CROSS_REGION`]). The handle is shared:
    /// keep a clone and [`set`](NetworkPrice::set) it while the server runs to re-rank the
    /// choices at once. Call it before [`add_service`](Self::add_service).
    ///
    /// ```
    /// use arpc::codec::NetworkPrice;
    ///
    /// let price = NetworkPrice::new(NetworkPrice::CROSS_ZONE);
    /// let builder = arpc::Server::builder().network_price(price.clone());
    /// // ... add services, serve; later, when the callers move to this zone:
    /// price.set(NetworkPrice::SAME_ZONE);
    /// # let _ = builder.into_service();
    /// ```
    #[must_use]
    pub fn network_price(mut self, price: NetworkPrice) -> Self {
        self.price = Some(price);
        self
    }

    /// Adds a service; its write handlers run on this server's blocking pool, and its `Auto`
    /// responses weigh bytes by this server's [`network_price`](Self::network_price), if set.
    #[must_use]
    pub fn add_service<S: Service>(mut self, mut service: S) -> Self {
        let pool = self
            .pool
            .get_or_insert_with(|| BlockingPool::new(self.config.blocking.clone()))
            .clone();
        service.set_blocking_pool(pool);
        if let Some(price) = &self.price {
            service.set_network_price(price.clone());
        }
        self.health.set(
            S::schema().full_name,
            crate::health::ServingStatus::NotServing,
        );
        self.router = self.router.add(S::schema().full_name, service);
        self.schemas.push(S::schema());
        self
    }

    /// The whole server — every added service, health, reflection, the layers — as one
    /// tower service over requests with any body, for mounting elsewhere or calling with
    /// `oneshot` in a test (no socket). Health reports `SERVING` from now on.
    pub fn into_service(self) -> ServerService<crate::trace::TraceService<L::Service>>
    where
        L: Layer<Router>,
    {
        self.health.set_all(crate::health::ServingStatus::Serving);
        self.watch_pool();
        let service = crate::trace::TraceService::new(self.layer.layer(self.full_router()));
        ServerService::new(service, self.limits())
    }

    /// Binds `addr` and serves until the process ends.
    pub async fn serve(self, addr: SocketAddr) -> Result<(), ServerError>
    where
        L: Layer<Router, Service: Served>,
    {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        #[cfg(feature = "metrics")]
        let _metrics = match &self.metrics_addr {
            Some((addr, metrics)) => {
                let addr = *addr;
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Bind { addr, source })?;
                Some(AbortOnDrop(tokio::spawn(metrics.clone().serve(listener))))
            }
            None => None,
        };
        self.serve_with_incoming(listener, std::future::pending::<()>())
            .await;
        Ok(())
    }

    /// Serves connections from `listener` until `shutdown` completes, then stops accepting,
    /// lets in-flight calls finish (up to the grace period) and returns.
    pub async fn serve_with_incoming(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) where
        L: Layer<Router, Service: Served>,
    {
        use crate::health::ServingStatus;
        let config = self.config.clone();
        let health = self.health.clone();
        self.watch_pool();
        let service = crate::trace::TraceService::new(self.layer.layer(self.full_router()));
        let limits = self.limits();
        // The listener is bound and about to be served.
        health.set_all(ServingStatus::Serving);
        let registrations = self.register(&listener);
        let graceful = GracefulShutdown::new();
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(config.max_concurrent_streams)
            .max_local_error_reset_streams(Some(config.max_local_error_reset_streams))
            .max_header_list_size(config.max_header_list_size)
            .keep_alive_interval(config.keepalive_interval)
            .keep_alive_timeout(config.keepalive_timeout);
        let mut shutdown = std::pin::pin!(shutdown);
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(config.max_connections));
        loop {
            // A free connection slot first: at the cap, connections wait in the backlog.
            let slot = tokio::select! {
                slot = std::sync::Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    // Out of file descriptors and the like: back off rather than spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let first = FirstRequest::default();
            let service = hyper_util::service::TowerToHyperService::new(
                first.watch(ServerService::new(service.clone(), limits).for_peer(peer)),
            );
            let patience = config.first_request_timeout;
            #[cfg(feature = "tls")]
            if let Some(tls) = &self.tls {
                // The handshake runs in the connection's task, so a slow client delays no one;
                // it counts against the first-request timeout.
                let (acceptor, http2, watcher) =
                    (tls.acceptor.clone(), http2.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let _slot = slot;
                    let started = tokio::time::Instant::now();
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(patience, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let connection = http2.serve_connection(TokioIo::new(stream), service);
                    first
                        .serve(watcher.watch(connection), started + patience)
                        .await;
                });
                continue;
            }
            let connection = graceful.watch(http2.serve_connection(TokioIo::new(stream), service));
            let until = tokio::time::Instant::now() + patience;
            tokio::spawn(async move {
                let _slot = slot;
                first.serve(connection, until).await;
            });
        }
        // Tell health checkers and the registry first, then stop accepting and drain.
        health.set_all(ServingStatus::NotServing);
        futures_util::future::join_all(
            registrations
                .into_iter()
                .map(arpc_registry::Registration::deregister),
        )
        .await;
        drop(listener);
        let _ = tokio::time::timeout(config.shutdown_grace, graceful.shutdown()).await;
    }
}

type IncomingRequest = Request<hyper::body::Incoming>;

/// Whether a connection has sent its first request: a connection that has not by a deadline
/// is closed.
#[derive(Debug, Clone, Default)]
struct FirstRequest(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl FirstRequest {
    /// `service`, noting the first request it is called with.
    fn watch<S>(
        &self,
        service: S,
    ) -> tower::util::MapRequest<S, impl FnMut(IncomingRequest) -> IncomingRequest + Clone + use<S>>
    {
        let seen = std::sync::Arc::clone(&self.0);
        tower::util::MapRequest::new(service, move |request| {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
            request
        })
    }

    /// Runs `connection`; drops it (closing the socket) if no request came by `until`.
    async fn serve<F: Future>(self, connection: F, until: tokio::time::Instant) {
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            _ = &mut connection => return,
            () = tokio::time::sleep_until(until) => {}
        }
        if self.0.load(std::sync::atomic::Ordering::Relaxed) {
            connection.await;
        }
    }
}
