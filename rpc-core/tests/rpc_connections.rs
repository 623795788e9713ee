//! Connection limits on a real server: a connection that never sends a request is closed
//! after the first-request timeout, and past the connection cap new connections wait until
//! a slot frees. Loops are bounded in time.

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
