//! Message compression on real servers: responses compressed as each method says and read
//! back by the client, requests compressed by call options, gRPC's errors for encodings
//! gone wrong (UNIMPLEMENTED listing the supported ones, INTERNAL for a flag without an
//! encoding), and `Auto` choosing compression over a priced link, on the client's requests
//! (the channel's price) and the server's responses (the server's or the service's price).

#![allow(missing_docs)]

mod rpc_support;

use arpc::CallOptions;
use arpc::codec::{CodecKind, Compression, NetworkPrice};
use rpc_support::{frame, raw_request, serve};

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub text: String,
    /// The reply repeats `text` this many times.
    pub repeat: u32,
}

#[arpc::service(package = "packer.v1")]
pub trait Packer {
    async fn plain(&self, blob: Blob) -> Result<Blob, arpc::Status>;

    #[arpc(compress = "zstd", compress_min_bytes = 64)]
    async fn zstd(&self, blob: Blob) -> Result<Blob, arpc::Status>;

    #[arpc(compress = "gzip")]
    async fn gzip(&self, blob: Blob) -> Result<Blob, arpc::Status>;

    #[arpc(codec = "auto")]
    async fn auto(&self, blob: Blob) -> Result<Blob, arpc::Status>;
}

struct PackerImpl;

fn repeat(blob: &Blob) -> Blob {
    Blob {
        text: blob.text.repeat(blob.repeat.max(1) as usize),
        repeat: 0,
    }
}

impl Packer for PackerImpl {
    async fn plain(&self, blob: Blob) -> Result<Blob, arpc::Status> {
        Ok(repeat(&blob))
    }
    async fn zstd(&self, blob: Blob) -> Result<Blob, arpc::Status> {
        Ok(repeat(&blob))
    }
    async fn gzip(&self, blob: Blob) -> Result<Blob, arpc::Status> {
        Ok(repeat(&blob))
    }
    async fn auto(&self, blob: Blob) -> Result<Blob, arpc::Status> {
        Ok(repeat(&blob))
    }
}

async fn start() -> rpc_support::Running {
    serve(arpc::Server::builder().add_service(PackerServer::new(PackerImpl))).await
}

fn blob(text: &str, repeat: u32) -> Blob {
    Blob {
        text: text.into(),
        repeat,
    }
}

const LINE: &str = "the quick brown fox jumps over the lazy dog; ";

#[tokio::test]
async fn responses_are_compressed_as_each_method_says_and_read_back() {
    let server = start().await;
    let client = PackerClient::connect(server.uri()).await.unwrap();
    let cases = [
        ("plain", Compression::Identity),
        ("zstd", Compression::Zstd),
        ("gzip", Compression::Gzip),
    ];
    for (method, expected) in cases {
        let request = blob(LINE, 1000);
        let options = CallOptions::default();
        let response = match method {
            "plain" => client.plain_with(request.clone(), options).await,
            "zstd" => client.zstd_with(request.clone(), options).await,
            _ => client.gzip_with(request.clone(), options).await,
        }
        .unwrap();
        assert_eq!(response.compression, expected, "{method}");
        assert_eq!(response.message, repeat(&request), "{method}");
        assert_eq!(response.request_compression, Compression::Identity);
    }
    // Under the method's minimum (64 bytes for `zstd`, 1 KiB for `gzip`): uncompressed.
    let small = client
        .zstd_with(blob("hi", 1), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(small.compression, Compression::Identity);
    let small = client
        .gzip_with(blob(LINE, 10), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(small.compression, Compression::Identity);
}

#[tokio::test]
async fn requests_are_compressed_when_a_call_asks() {
    let server = start().await;
    let client = PackerClient::connect(server.uri()).await.unwrap();
    for c in [Compression::Gzip, Compression::Deflate, Compression::Zstd] {
        let request = blob(&LINE.repeat(500), 1);
        let response = client
            .plain_with(request.clone(), CallOptions::default().compression(c))
            .await
            .unwrap();
        assert_eq!(response.request_compression, c);
        assert_eq!(response.message, repeat(&request));
    }
    // Incompressible bytes go as they are, whatever was asked.
    let noise: String = (0..4000u32)
        .map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) >> 26) as u8))
        .collect();
    let response = client
        .plain_with(
            blob(&noise, 1),
            CallOptions::default().compression(Compression::Gzip),
        )
        .await
        .unwrap();
    assert_eq!(response.message.text, noise);
}

#[tokio::test]
async fn an_unknown_encoding_is_unimplemented_naming_the_supported_ones() {
    let server = start().await;
    let body = encoded(&blob("x", 1));
    let mut framed = frame(&body);
    framed[0] = 1;
    let (http, headers, _) = raw_request(
        server.addr,
        "/packer.v1.Packer/Plain",
        &[
            ("content-type", "application/grpc"),
            ("grpc-encoding", "br"),
        ],
        &framed,
    )
    .await;
    assert_eq!(http, 200);
    assert_eq!(headers["grpc-status"], "12", "{headers:?}");
    let message = headers["grpc-message"].to_str().unwrap();
    assert!(
        message.contains("br") && message.contains("gzip"),
        "{message}"
    );
    let accepted = headers["grpc-accept-encoding"].to_str().unwrap();
    assert!(
        accepted.contains("gzip") && accepted.contains("zstd"),
        "{accepted}"
    );
    assert!(!accepted.contains("br"), "{accepted}");
}

#[tokio::test]
async fn a_compressed_flag_without_an_encoding_is_internal() {
    let server = start().await;
    let body = encoded(&blob("x", 1));
    let mut framed = frame(&body);
    framed[0] = 1;
    let (_, headers, _) = raw_request(
        server.addr,
        "/packer.v1.Packer/Plain",
        &[("content-type", "application/grpc")],
        &framed,
    )
    .await;
    assert_eq!(headers["grpc-status"], "13", "{headers:?}");
    // And `identity` is no encoding either.
    let (_, headers, _) = raw_request(
        server.addr,
        "/packer.v1.Packer/Plain",
        &[
            ("content-type", "application/grpc"),
            ("grpc-encoding", "identity"),
        ],
        &framed,
    )
    .await;
    assert_eq!(headers["grpc-status"], "13", "{headers:?}");
}

#[tokio::test]
async fn a_peer_that_reads_no_compression_gets_none() {
    // A gRPC client that sends no grpc-accept-encoding reads uncompressed responses only.
    let server = start().await;
    let body = encoded(&blob(LINE, 1000));
    let (_, headers, reply) = raw_request(
        server.addr,
        "/packer.v1.Packer/Zstd",
        &[("content-type", "application/grpc")],
        &frame(&body),
    )
    .await;
    assert_eq!(headers["grpc-status"], "0", "{headers:?}");
    assert!(headers.get("grpc-encoding").is_none(), "{headers:?}");
    assert_eq!(reply[0], 0, "the flag");
    // Told it reads gzip only, it gets no zstd either.
    let (_, headers, reply) = raw_request(
        server.addr,
        "/packer.v1.Packer/Zstd",
        &[
            ("content-type", "application/grpc"),
            ("grpc-accept-encoding", "gzip"),
        ],
        &frame(&body),
    )
    .await;
    assert!(headers.get("grpc-encoding").is_none(), "{headers:?}");
    assert_eq!(reply[0], 0, "the flag");
}

/// About `len` bytes of words drawn at random from a small vocabulary: text that zstd
/// shrinks to about a third, at a cost in CPU well above what moving the bytes saved costs
/// over loopback.
fn random_words(len: usize) -> String {
    const WORDS: &[&str] = &[
        "adaptive",
        "broker",
        "codec",
        "display",
        "engine",
        "failover",
        "gateway",
        "hub",
        "ingest",
        "journal",
        "kernel",
        "listener",
        "metric",
        "node",
        "offset",
        "partition",
        "query",
        "replica",
        "shard",
        "topic",
        "update",
        "vector",
        "window",
        "zone",
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "lambda",
        "sigma",
        "omega",
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(WORDS[usize::from(state.to_le_bytes()[0]) % WORDS.len()]);
        text.push(' ');
    }
    text
}

#[tokio::test]
async fn auto_compresses_over_a_priced_link_and_not_over_loopback() {
    let server = start().await;
    let request = blob(&random_words(90_000), 1);
    let size = encoded(&request).len();
    for (price, compressed) in [
        (NetworkPrice::CROSS_REGION, true),
        (NetworkPrice::LOOPBACK, false),
    ] {
        let channel = arpc::Channel::connect_with(
            server.uri(),
            arpc::client::ChannelConfig::default().network_price(price),
        )
        .await
        .unwrap();
        let client = PackerClient::new(channel);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let response = client
                .auto_with(request.clone(), CallOptions::default())
                .await
                .unwrap();
            assert_eq!(response.message, repeat(&request));
            seen.insert((response.request_codec, response.request_compression));
        }
        // Calibration sent the request in every pair the server reads (all of them).
        assert!(seen.len() >= 12, "{seen:?}");
        let auto = client.methods()[3].selector().auto().unwrap();
        let (_, chosen) = auto.choice(size).unwrap();
        assert_eq!(
            chosen != Compression::Identity,
            compressed,
            "at {price} ns/byte: {:?}",
            auto.costs(size)
        );
    }
}

/// Calls `auto` `calls` times and counts the responses that came back compressed among the
/// last 32 (the server's `Auto` explores other pairs in about 2 calls of 128).
async fn compressed_responses(client: &PackerClient, request: &Blob, calls: usize) -> usize {
    let mut compressed = Vec::with_capacity(calls);
    for _ in 0..calls {
        let response = client
            .auto_with(request.clone(), CallOptions::default())
            .await
            .unwrap();
        assert_eq!(response.message, repeat(request));
        compressed.push(response.compression != Compression::Identity);
    }
    compressed[calls - 32..].iter().filter(|c| **c).count()
}

#[tokio::test]
async fn a_servers_network_price_decides_how_its_auto_responses_travel() {
    // 90 KB of random words: zstd shrinks them to about a third, which pays at a
    // cross-region price and not on loopback (see the test above).
    let request = blob(&random_words(90_000), 1);
    let price = NetworkPrice::new(NetworkPrice::CROSS_REGION);
    let server = serve(
        arpc::Server::builder()
            .network_price(price.clone())
            .add_service(PackerServer::new(PackerImpl)),
    )
    .await;
    // The client weighs its requests at its own (default) price; only responses are priced
    // by the server.
    let client = PackerClient::connect(server.uri()).await.unwrap();
    let after_calibration = compressed_responses(&client, &request, 160).await;
    assert!(
        after_calibration >= 28,
        "{after_calibration} of 32 compressed"
    );

    // The price changes while the server runs: its choice follows on the next calls.
    price.set(NetworkPrice::LOOPBACK);
    let after_change = compressed_responses(&client, &request, 64).await;
    assert!(after_change <= 4, "{after_change} of 32 compressed");

    // A service's own price wins over the server's.
    let own = serve(
        arpc::Server::builder()
            .network_price(NetworkPrice::new(NetworkPrice::LOOPBACK))
            .add_service(
                PackerServer::new(PackerImpl)
                    .with_network_price(NetworkPrice::new(NetworkPrice::CROSS_REGION)),
            ),
    )
    .await;
    let client = PackerClient::connect(own.uri()).await.unwrap();
    let own_price = compressed_responses(&client, &request, 160).await;
    assert!(own_price >= 28, "{own_price} of 32 compressed");
}

fn encoded(b: &Blob) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    CodecKind::Proto.encode(b, &mut buf).unwrap();
    buf.to_vec()
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_label_calls_with_their_compression() {
    let metrics = arpc::metrics::Metrics::new();
    let server = serve(
        arpc::Server::builder()
            .metrics(&metrics)
            .add_service(PackerServer::new(PackerImpl)),
    )
    .await;
    let client = PackerClient::connect(server.uri()).await.unwrap();
    let request = blob(&LINE.repeat(100), 10);
    client
        .zstd_with(
            request,
            CallOptions::default().compression(Compression::Gzip),
        )
        .await
        .unwrap();
    let text = metrics.render();
    let line = text
        .lines()
        .find(|l| l.starts_with("arpc_server_calls_total{") && l.contains("Packer/Zstd"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("request_compression=\"gzip\""), "{line}");
    assert!(line.contains("response_compression=\"zstd\""), "{line}");
}
