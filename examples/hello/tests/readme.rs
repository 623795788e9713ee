//! Every `rust` block of the README, compiled: each is held here verbatim, inside what it
//! needs around it (imports, a function returning `Result`, the types it names), and
//! `every_rust_block_of_the_readme_is_compiled_here` fails when a block of the README is not
//! found here (so a README edit must be made here too, where the compiler checks it). The
//! blocks that need no server run; the others bind fixed ports and are compiled only. The
//! items holding blocks are `#[rustfmt::skip]`, so they stay as the README has them.

#![allow(dead_code, unused_variables, unreachable_pub, clippy::unused_async)]

use arpc_example_hello::{GreeterClient, GreeterServer, Hello, HelloRequest, RequireTokenLayer};
use tower::ServiceExt;

type Result<T = ()> = std::result::Result<T, arpc::BoxError>;

/// "Discovery and failover".
#[rustfmt::skip]
async fn discovery(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result {
    let registry = arpc::registry::Registry::from_url("zk://127.0.0.1:2181/arpc")?;
    arpc::Server::builder().add_service(GreeterServer::new(Hello::default())).registry(registry.clone())
        .serve_with_incoming(listener, shutdown).await;           // registers once SERVING
    let client = GreeterClient::discover(&registry);               // balanced, with failover
    Ok(())
}

/// "A service in a few lines": the README's own `Greeter`, served and called.
#[rustfmt::skip]
mod service {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use arpc::CallOptions;
    use arpc::codec::CodecKind;
    use arpc_example_hello::{HelloReply, HelloRequest, Note, Stored};

    #[arpc::service(package = "hello.v1")]
    pub trait Greeter {
        /// A read: `async fn`, runs on the async runtime, safe to retry.
        async fn say_hello(&self, request: HelloRequest) -> Result<HelloReply, arpc::Status>;

        /// A write: a plain `fn`, runs on the server's bounded blocking pool.
        #[arpc(codec(small = "postcard", large = "json", threshold = 1024))]
        fn store(&self, note: Note) -> Result<Stored, arpc::Status>;
    }

    #[derive(Default)]
    pub struct Hello {
        notes: AtomicU64,
    }

    impl Greeter for Hello {
        async fn say_hello(&self, request: HelloRequest) -> Result<HelloReply, arpc::Status> {
            Ok(HelloReply {
                message: format!("hello, {}", request.name),
                padding: String::new(),
                served_by: String::new(),
            })
        }

        fn store(&self, note: Note) -> Result<Stored, arpc::Status> {
            let count = self.notes.fetch_add(1, Ordering::Relaxed) + 1;
            Ok(Stored { count })
        }
    }

    pub async fn serve_and_call() -> super::Result {
        // Serve it (GreeterServer is generated) where `Hello` implements `Greeter`:
        arpc::Server::builder()
            .add_service(GreeterServer::new(Hello::default()))
            .serve("127.0.0.1:50051".parse()?)
            .await?;

        // Call it (GreeterClient is generated), in any codec:
        let client = GreeterClient::connect("http://127.0.0.1:50051").await?;
        let request = HelloRequest { name: "Ada".into(), reply_padding: 0, delay_ms: 0 };
        let reply = client.say_hello(request.clone()).await?;
        let reply = client
            .say_hello_with(request, CallOptions::default().codec(CodecKind::Json).deadline(Duration::from_secs(1)))
            .await?;
        println!("{} (answered in {})", reply.message.message, reply.codec);
        Ok(())
    }
}

/// "Layers, and mounting elsewhere": a server layer, called with `oneshot`.
#[rustfmt::skip]
async fn server_layers(request: http::Request<String>) -> Result<http::Response<arpc::server::ResponseBody>> {
    let server = arpc::Server::builder()
        .layer(RequireTokenLayer::new("s3cret"))      // any tower::Layer
        .add_service(GreeterServer::new(Hello::default()))
        .into_service();
    let response = server.oneshot(request).await?;   // or .serve_with_incoming(listener, signal)
    Ok(response)
}

/// "Layers, and mounting elsewhere": client layers.
#[rustfmt::skip]
async fn client_layers() -> Result {
    let client = GreeterClient::connect("http://127.0.0.1:50051").await?
        .layer(tower::util::MapRequestLayer::new(|mut call: arpc::client::CallRequest| {
            call.headers_mut().insert("authorization", "Bearer s3cret".parse().unwrap());
            call
        }))
        .layer(tower::limit::ConcurrencyLimitLayer::new(64));   // any tower::Layer
    let reply = client.say_hello(HelloRequest { name: "Ada".into(), reply_padding: 0, delay_ms: 0 }).await?;
    Ok(())
}

/// "Metrics".
#[rustfmt::skip]
async fn metrics() -> Result {
    arpc::Server::builder()
        .add_service(GreeterServer::new(Hello::default()))
        .metrics_addr("127.0.0.1:9090".parse()?)   // GET /metrics
        .serve("127.0.0.1:50051".parse()?)
        .await?;
    Ok(())
}

/// "Messages in a few lines", run.
#[test]
#[rustfmt::skip]
fn messages_in_a_few_lines() -> Result {
    use arpc::codec::{CodecKind, CodecPolicy, CodecSelector, CodecSet};

    #[arpc::message]                       // serde derives + protobuf encoding + schema
    #[derive(Debug, Clone, PartialEq)]
    struct Greeting {
        name: String,                      // field 1
        times: u32,                        // field 2 (uint32 on the wire)
        #[arpc(tag = 7)]
        tags: Vec<String>,                 // field 7
        mood: Option<Mood>,                // field 8: proto3 optional
    }

    #[arpc::message]
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mood { Calm, Busy }               // a protobuf enum: Calm = 0, Busy = 1

    let msg = Greeting { name: "ada".into(), times: 3, tags: vec![], mood: Some(Mood::Busy) };
    let mut buf = bytes::BytesMut::new();
    CodecKind::Json.encode(&msg, &mut buf)?;                 // or Proto, MsgPack, Postcard
    let back: Greeting = CodecKind::Json.decode(buf.freeze())?;

    // Per method: a fixed codec, a size rule, or Auto (measured cost).
    let selector = CodecSelector::new(CodecPolicy::auto());
    let used = selector.encode(&msg, CodecSet::ALL, &mut bytes::BytesMut::new())?;
    assert_eq!(back, msg);
    assert!(CodecSet::ALL.contains(used));
    Ok(())
}

#[tokio::test]
async fn the_server_layer_block_refuses_a_call_without_a_token() {
    let request = http::Request::post("/hello.v1.Greeter/SayHello")
        .header("content-type", "application/grpc")
        .body(String::new())
        .unwrap();
    let response = server_layers(request).await.unwrap();
    assert_eq!(
        response.headers().get("grpc-status").map(|v| v.as_bytes()),
        Some(b"16".as_slice()),
        "UNAUTHENTICATED: {:?}",
        response.headers()
    );
}

/// The README's `rust` blocks, each as its lines.
fn rust_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.starts_with("```rust") => current = Some(Vec::new()),
            None => {}
            Some(block) if line.starts_with("```") => {
                blocks.push(block.join("\n"));
                current = None;
            }
            Some(block) => block.push(line),
        }
    }
    blocks
}

/// Lines trimmed, blank lines dropped: indentation here differs from the README's.
fn normalize(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_rust_block_of_the_readme_is_compiled_here() {
    let readme = include_str!("../../../README.md");
    let here = normalize(include_str!("readme.rs"));
    let blocks = rust_blocks(readme);
    assert!(blocks.len() >= 7, "found {} rust blocks", blocks.len());
    for block in &blocks {
        assert!(
            here.contains(&normalize(block)),
            "this README block is not compiled in examples/hello/tests/readme.rs:\n{block}"
        );
    }
}
