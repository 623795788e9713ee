//! Serving a [`Metrics`] registry over HTTP/1.1 for Prometheus to scrape.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Metrics;

/// The content-type of the text exposition prometheus-client writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Metrics {
    /// Serves `GET /metrics` on `listener` (anything else is 404) until the future is
    /// dropped. Each connection gets its own task.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: try again shortly rather than spin.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let metrics = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(metrics.answer(&request)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// The answer to one scrape.
    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        let mut response = if request.method() == Method::GET && request.uri().path() == "/metrics"
        {
            let mut r = Response::new(Full::new(Bytes::from(self.render())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(OPENMETRICS),
            );
            r
        } else {
            let mut r = Response::new(Full::new(Bytes::from_static(b"not found; try /metrics\n")));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        };
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
        response
    }
}
