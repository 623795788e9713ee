//! Connection limits on a real server: a connection that never sends a request is closed
//! after the first-request timeout, and past the connection cap new connections wait until
//! a slot frees; a client channel keeps as many connections as its config says and spreads
//! its calls over them. Loops are bounded in time.

mod rpc_support;

use std::time::{Duration, Instant};

use rpc_support::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn a_connection_that_sends_no_request_is_closed() {
    let server = serve(
        arpc::Server::builder()
            .first_request_timeout(Duration::from_millis(300))
            .add_service(ProbeServer::new(ProbeImpl::default())),
    )
    .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    // The server's HTTP/2 preface (SETTINGS) may arrive first; then the close.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match silent.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after 5 s");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}"
    );

    // A connection that does send requests is served past the timeout.
    let client = server.client().await;
    assert_eq!(client.echo(ping("one")).await.unwrap().text, "one");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(client.echo(ping("two")).await.unwrap().text, "two");
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_for_a_slot() {
    let server = serve(
        arpc::Server::builder()
            .max_connections(1)
            .add_service(ProbeServer::new(ProbeImpl::default())),
    )
    .await;
    // The one slot is taken by a connection that sends nothing.
    let holder = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = server.addr;
    let call = tokio::spawn(async move {
        raw_request(
            addr,
            "/probe.v1.Probe/Echo",
            &[("content-type", "application/grpc")],
            &frame(&proto_ping("waited")),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !call.is_finished(),
        "a second connection was served past the cap of 1"
    );
    // The holder goes away: its slot frees and the waiting connection is served.
    drop(holder);
    let (status, headers, _) = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("served within 5 s of the slot freeing")
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(headers.get("grpc-status").unwrap(), "0");
}

#[tokio::test]
async fn a_channel_spreads_its_calls_over_its_configured_connections() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let server = start(ProbeImpl::default()).await;
    // A loopback relay in front of the server that counts the connections it accepts.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&accepted);
    let backend = server.addr;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let config = arpc::client::ChannelConfig::default().connections(3);
    // Lazy: a connection is made when a call first takes it, so three connections mean the
    // calls went round all three.
    let channel = arpc::Channel::lazy_with(format!("http://{relay_addr}"), config).unwrap();
    let client = ProbeClient::new(channel);
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
    for i in 0..12 {
        let reply = client.echo(ping(&i.to_string())).await.unwrap();
        assert_eq!(reply.text, i.to_string());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}
