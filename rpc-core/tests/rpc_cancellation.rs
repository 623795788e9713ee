//! A caller that gives up cancels the server-side async handler.

mod rpc_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rpc_support::*;

#[tokio::test]
async fn dropping_a_call_cancels_the_handler() {
    let probe = Arc::new(ProbeImpl::default());
    let cancelled = Arc::clone(&probe.cancelled);
    let started = Arc::clone(&probe.hang_started);
    let server = start_with(Arc::clone(&probe), arpc::server::PoolConfig::default()).await;
    let client = server.client().await;

    let mut long = ping("hang");
    long.sleep_ms = 30_000;
    let call = tokio::spawn(async move { client.hang(long).await });
    tokio::time::timeout(Duration::from_secs(5), started.notified())
        .await
        .expect("the handler started");
    call.abort();

    // The reset travels to the server, which drops the handler's future.
    let mut seen = false;
    for _ in 0..100 {
        if cancelled.load(Ordering::SeqCst) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen,
        "the handler was not cancelled within 2 s of the caller leaving"
    );
}
