//! [`Connection`]: one HTTP/2 connection to one address, on `h2` directly.
//!
//! A call sends its request on the shared `h2::client::SendRequest` and polls its own response
//! stream: no task sits between the caller and the connection (tonic's `Channel` puts a
//! `Buffer` worker there, and hyper's HTTP/2 client a dispatch task and a task per request),
//! so a small call costs one wake-up of the connection task each way. The connection is made
//! on first use (or at once by [`Connection::connect`]), re-made after it fails (one attempt at
//! a time, the callers waiting on it), and watched by HTTP/2 PINGs so that a peer that went
//! silent is noticed without a call hanging on it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};

use super::ChannelConfig;
use crate::status::Status;

/// An HTTP/2 connection to one address, made on demand. Cheap to clone; clones share it.
#[derive(Clone)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("authority", &self.shared.authority)
            .finish_non_exhaustive()
    }
}

struct Shared {
    scheme: Scheme,
    authority: Authority,
    config: ChannelConfig,
    /// The live connection and its generation.
    current: Mutex<Option<(u64, h2::client::SendRequest<Bytes>)>>,
    /// Held while a connection is being made.
    connecting: tokio::sync::Mutex<()>,
    generations: AtomicU64,
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectFailure {
    #[error("the address is not `host:port`: {0}")]
    Address(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no connection within {0:?}")]
    Timeout(Duration),
    #[error("HTTP/2 handshake: {0}")]
    Handshake(h2::Error),
}

impl Connection {
    /// A connection to `uri` (`http://host:port`, or `host:port`), made on first use; over
    /// TLS if `config` says so.
    pub(crate) fn lazy(uri: &str, config: ChannelConfig) -> Result<Self, ConnectFailure> {
        let address = uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"))
            .unwrap_or(uri)
            .trim_end_matches('/');
        let authority: Authority = address
            .parse()
            .map_err(|_| ConnectFailure::Address(uri.to_owned()))?;
        if authority.port_u16().is_none() {
            return Err(ConnectFailure::Address(uri.to_owned()));
        }
        Ok(Self::with(authority, config))
    }

    fn with(authority: Authority, config: ChannelConfig) -> Self {
        #[cfg(feature = "tls")]
        let scheme = if config.tls.is_some() {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        #[cfg(not(feature = "tls"))]
        let scheme = Scheme::HTTP;
        Self {
            shared: Arc::new(Shared {
                scheme,
                authority,
                config,
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                generations: AtomicU64::new(0),
            }),
        }
    }

    /// `scheme://host:port`.
    pub(crate) fn uri(&self) -> String {
        format!("{}://{}", self.shared.scheme, self.shared.authority)
    }

    /// Makes the connection now (if there is none), reporting why it failed.
    pub(crate) async fn connect(&self) -> Result<(), ConnectFailure> {
        self.sender().await.map(|_| ())
    }

    fn current(&self) -> Option<(u64, h2::client::SendRequest<Bytes>)> {
        self.shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The live connection, made first if there is none.
    async fn sender(&self) -> Result<(u64, h2::client::SendRequest<Bytes>), ConnectFailure> {
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let _one_at_a_time = self.shared.connecting.lock().await;
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let timeout = self.shared.config.connect_timeout;
        let sender = tokio::time::timeout(timeout, self.establish())
            .await
            .map_err(|_| ConnectFailure::Timeout(timeout))??;
        let generation = self.shared.generations.fetch_add(1, Ordering::Relaxed) + 1;
        *self
            .shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((generation, sender.clone()));
        Ok((generation, sender))
    }

    /// Forgets connection `generation` (it failed); the next call makes a new one.
    fn broken(shared: &Shared, generation: u64) {
        let mut current = shared
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
    }

    async fn establish(&self) -> Result<h2::client::SendRequest<Bytes>, ConnectFailure> {
        let tcp = tokio::net::TcpStream::connect(self.shared.authority.as_str()).await?;
        tcp.set_nodelay(true)?;
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.shared.config.tls {
            let stream = tls.connector.connect(tls.server_name.clone(), tcp).await?;
            return self.handshake(stream).await;
        }
        self.handshake(tcp).await
    }

    async fn handshake<T>(&self, io: T) -> Result<h2::client::SendRequest<Bytes>, ConnectFailure>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, mut connection) = h2::client::Builder::new()
            // hyper's defaults for clients: 2 MiB per stream, 5 MiB per connection.
            .initial_window_size(2 * 1024 * 1024)
            .initial_connection_window_size(5 * 1024 * 1024)
            .max_header_list_size(16 * 1024)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(ConnectFailure::Handshake)?;
        let ping = connection.ping_pong();
        let generation = self.shared.generations.load(Ordering::Relaxed) + 1;
        let weak = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            // Ends when the peer closes, the connection fails, or every sender is gone.
            let _ = connection.await;
        });
        if let Some(ping) = ping {
            tokio::spawn(keepalive(ping, weak, generation));
        }
        Ok(sender)
    }

    /// Sends one unary request (`body` is the framed message) and waits for the response
    /// headers.
    pub(crate) async fn send(
        &self,
        path: PathAndQuery,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response<RecvBody>, Status> {
        let shown = path.clone();
        let path = shown.as_str();
        let (generation, sender) = self
            .sender()
            .await
            .map_err(|e| unreachable(path, &self.shared.authority, &e))?;
        let mut sender = match sender.ready().await {
            Ok(sender) => sender,
            Err(e) => {
                Self::broken(&self.shared, generation);
                return Err(stream_error(path, &e));
            }
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(self.shared.scheme.clone());
        uri.authority = Some(self.shared.authority.clone());
        uri.path_and_query = Some(shown.clone());
        let mut request = Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = Uri::from_parts(uri).map_err(|e| Status::internal(e.to_string()))?;
        *request.headers_mut() = headers;
        let sent = sender
            .send_request(request, false)
            .and_then(|(response, mut stream)| {
                stream.send_data(body, true)?;
                Ok(response)
            });
        let response = match sent {
            Ok(response) => response.await,
            Err(e) => Err(e),
        };
        match response {
            Ok(response) => Ok(response.map(|inner| RecvBody {
                inner,
                data_done: false,
            })),
            Err(e) => {
                if e.is_io() || e.is_go_away() {
                    Self::broken(&self.shared, generation);
                }
                Err(stream_error(path, &e))
            }
        }
    }
}

/// Pings the connection every `keepalive_interval`; one unanswered within
/// `keepalive_timeout` marks it broken.
async fn keepalive(mut ping: h2::PingPong, shared: Weak<Shared>, generation: u64) {
    loop {
        let (interval, timeout) = match shared.upgrade() {
            Some(s) => (s.config.keepalive_interval, s.config.keepalive_timeout),
            None => return,
        };
        tokio::time::sleep(interval).await;
        match tokio::time::timeout(timeout, ping.ping(h2::Ping::opaque())).await {
            Ok(Ok(_)) => {}
            _ => {
                if let Some(shared) = shared.upgrade() {
                    Connection::broken(&shared, generation);
                }
                return;
            }
        }
    }
}

/// The connection could not be made: `UNAVAILABLE`.
fn unreachable(path: &str, authority: &Authority, e: &ConnectFailure) -> Status {
    Status::unavailable(format!("cannot reach {authority} for {path}: {e}"))
}

/// A stream or connection error, as the gRPC specification maps HTTP/2 errors to codes.
pub(crate) fn stream_error(path: &str, e: &h2::Error) -> Status {
    use h2::Reason;
    let message = format!("the call to {path} failed: {e}");
    if e.is_io() || e.is_go_away() {
        return Status::unavailable(message);
    }
    match e.reason() {
        Some(Reason::REFUSED_STREAM) => Status::unavailable(message),
        Some(Reason::CANCEL) => Status::cancelled(message),
        Some(Reason::ENHANCE_YOUR_CALM) => Status::resource_exhausted(message),
        Some(Reason::INADEQUATE_SECURITY) => Status::permission_denied(message),
        Some(_) => Status::internal(message),
        None => Status::unavailable(message),
    }
}

/// A response body read from `h2`, handing flow-control capacity back as data is read.
#[derive(Debug)]
pub(crate) struct RecvBody {
    inner: h2::RecvStream,
    data_done: bool,
}

impl Body for RecvBody {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if !self.data_done {
            match self.inner.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = self.inner.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => self.data_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match self.inner.poll_trailers(cx) {
            Poll::Ready(Ok(Some(trailers))) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
