//! Response metadata set by a blocking (write) handler through `Context::response_metadata`
//! reaches the client: the thread-local context carries it as the task-local one does for
//! reads (the hello example's tests cover the async path and errors).

mod rpc_support;

use rpc_support::{ProbeImpl, ping, start};

#[tokio::test]
async fn a_blocking_handler_sets_headers_and_trailers() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    for n in 1..=2 {
        let reply = client
            .write_with(ping("metadata"), arpc::CallOptions::default())
            .await
            .unwrap();
        assert_eq!(reply.headers.get("x-pool").unwrap(), "blocking");
        assert_eq!(
            reply.trailers.get("x-writes").unwrap().to_str().unwrap(),
            n.to_string()
        );
        // gRPC's own trailer is still there, and still last to be decided by the server.
        assert_eq!(reply.trailers.get("grpc-status").unwrap(), "0");
    }
}
