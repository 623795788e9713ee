//! `hello`: serve the hello service, call it, or run a demo that does both.
//!
//! ```text
//! hello serve --addr 127.0.0.1:50051
//! hello call --addr http://127.0.0.1:50051 --name Ada --codec json
//! hello demo            # a server on a free port, then a call in every codec
//!
//! hello serve --addr 127.0.0.1:0 --registry zk://127.0.0.1:2181/arpc
//! hello call --registry zk://127.0.0.1:2181/arpc --name Ada
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;

use arpc::codec::{CodecKind, CodecSet};
use arpc::registry::Registry;
use arpc::{CallOptions, Server};
use arpc_example_hello::{GreeterClient, GreeterServer, Hello, HelloRequest, Note};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "arpc's hello service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on an address (port 0 picks a free one; the bound address is printed).
    Serve {
        #[arg(long, default_value = "127.0.0.1:50051")]
        addr: SocketAddr,
        /// Announce the service in a registry: `zk://host:port/base` or `static://…`.
        #[arg(long)]
        registry: Option<String>,
    },
    /// Call a running server.
    Call {
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        addr: String,
        /// Find the servers in a registry (`zk://host:port/base`) instead of `--addr`.
        #[arg(long)]
        registry: Option<String>,
        #[arg(long, default_value = "world")]
        name: String,
        /// proto, json, msgpack or postcard.
        #[arg(long, default_value = "proto")]
        codec: CodecKind,
    },
    /// Start a server on a free port and call it in every codec.
    Demo,
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { addr, registry } => {
            let registry = match registry.as_deref().map(Registry::from_url).transpose() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let listener = match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("cannot listen on {addr}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let bound = match listener.local_addr() {
                Ok(bound) => bound,
                Err(e) => {
                    eprintln!("bound, address unknown: {e}");
                    return ExitCode::FAILURE;
                }
            };
            println!("listening on {bound}");
            serve(listener, registry, shutdown_signal()).await;
            ExitCode::SUCCESS
        }
        Command::Call {
            addr,
            registry,
            name,
            codec,
        } => match call(&addr, registry.as_deref(), &name, codec).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo => match demo().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Ctrl-C or SIGTERM (what orchestrators send) starts a graceful shutdown.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn serve(
    listener: TcpListener,
    registry: Option<Registry>,
    shutdown: impl Future<Output = ()>,
) {
    let served_by = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut builder =
        Server::builder().add_service(GreeterServer::new(Hello::serving_as(served_by)));
    if let Some(registry) = registry {
        builder = builder.registry(registry);
    }
    builder.serve_with_incoming(listener, shutdown).await;
}

async fn call(
    addr: &str,
    registry: Option<&str>,
    name: &str,
    codec: CodecKind,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = match registry {
        Some(url) => GreeterClient::discover(&Registry::from_url(url)?),
        None => GreeterClient::connect(addr.to_owned()).await?,
    };
    let request = HelloRequest {
        name: name.to_owned(),
        reply_padding: 0,
        delay_ms: 0,
    };
    let options = CallOptions::default()
        .codec(codec)
        .accept(CodecSet::only(codec));
    let reply = client.say_hello_with(request, options).await?;
    println!(
        "{} (from {}; request {}, response {})",
        reply.message.message, reply.message.served_by, reply.request_codec, reply.codec
    );
    Ok(())
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, None, async {
        let _ = stopped.await;
    }));
    let client = GreeterClient::connect(format!("http://{addr}")).await?;
    println!("hello server on {addr}\n");
    println!("say_hello (read, async) in each codec:");
    for codec in CodecKind::ALL {
        let request = HelloRequest {
            name: format!("{codec} caller"),
            reply_padding: 0,
            delay_ms: 0,
        };
        let options = CallOptions::default()
            .codec(codec)
            .accept(CodecSet::only(codec));
        let reply = client.say_hello_with(request, options).await?;
        println!(
            "  {:<8} -> {:<24} response in {}",
            codec, reply.message.message, reply.codec
        );
    }
    println!("\nstore (write, blocking pool; response codec by size: postcard < 1 KiB <= json):");
    for (key, size) in [("short", 10usize), ("long", 4000)] {
        let note = Note {
            key: key.into(),
            text: "n".repeat(size),
            work_ms: 0,
        };
        // The client applies the method's size rule to the request (a long note goes as
        // JSON); the reply, a count, is small and comes back in postcard.
        let reply = client.store_with(note, CallOptions::default()).await?;
        println!(
            "  {key:<6} note -> {} stored, request in {}, response in {}",
            reply.message.count, reply.request_codec, reply.codec
        );
    }

    // A second server, and a client that balances over both through a registry (a static
    // list here; `--registry zk://…` on `serve` and `call` uses ZooKeeper).
    let second = TcpListener::bind("127.0.0.1:0").await?;
    let second_addr = second.local_addr()?;
    let (stop_second, second_stopped) = tokio::sync::oneshot::channel::<()>();
    let second_server = tokio::spawn(serve(second, None, async {
        let _ = second_stopped.await;
    }));
    let registry = arpc::registry::Static::new([addr, second_addr]);
    let balanced = GreeterClient::discover(&registry);
    let mut served = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..20 {
        let request = HelloRequest {
            name: format!("caller {i}"),
            reply_padding: 0,
            delay_ms: 0,
        };
        *served
            .entry(balanced.say_hello(request).await?.served_by)
            .or_default() += 1;
    }
    println!(
        "
20 calls balanced over two servers (power of two choices):"
    );
    for (server, calls) in served {
        println!("  {server:<22} {calls} calls");
    }
    let _ = stop.send(());
    let _ = stop_second.send(());
    server.await?;
    second_server.await?;
    Ok(())
}
