//! grpc.health.v1: served by default, SERVING while serving, NOT_SERVING once shutdown starts,
//! NOT_FOUND for unknown services, settable by the application.

mod rpc_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arpc::Code;
use arpc::health::{HealthCheckRequest, HealthClient, ServingStatus};
use rpc_support::*;
use tokio::net::TcpListener;

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

#[tokio::test]
async fn health_follows_the_servers_life() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let builder = arpc::Server::builder()
        .shutdown_grace(Duration::from_secs(1))
        .add_service(ProbeServer::from_arc(Arc::new(ProbeImpl::default())));
    let reporter = builder.health_reporter();
    assert_eq!(
        reporter.get("probe.v1.Probe"),
        Some(ServingStatus::NotServing),
        "not yet serving"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(builder.serve_with_incoming(listener, async {
        let _ = stopped.await;
    }));

    let health = HealthClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    assert_eq!(
        health.check(check("")).await.unwrap().status,
        ServingStatus::Serving
    );
    assert_eq!(
        health.check(check("probe.v1.Probe")).await.unwrap().status,
        ServingStatus::Serving
    );
    let err = health.check(check("no.such.Service")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err}");

    // The application can report a dependency down.
    reporter.set("probe.v1.Probe", ServingStatus::NotServing);
    assert_eq!(
        health.check(check("probe.v1.Probe")).await.unwrap().status,
        ServingStatus::NotServing
    );

    // Shutdown: NOT_SERVING from its first moment.
    stop.send(()).unwrap();
    let give_up = Instant::now() + Duration::from_secs(2);
    while reporter.get("") != Some(ServingStatus::NotServing) {
        assert!(Instant::now() < give_up, "still {:?}", reporter.get(""));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn health_can_be_turned_off() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        arpc::Server::builder()
            .without_health()
            .add_service(ProbeServer::from_arc(Arc::new(ProbeImpl::default())))
            .serve_with_incoming(listener, std::future::pending()),
    );
    let health = HealthClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = health.check(check("")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented, "{err}");
}
