//! A discovery stream feeds tower's own power-of-two-choices balancer directly: map each
//! instance to a service and hand the stream to `tower::balance::p2c::Balance`.

use std::collections::HashSet;
use std::convert::Infallible;

use arpc_registry::{Change, Discovery, Static};
use futures_util::StreamExt;
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{BoxError, Service, ServiceExt};

#[tokio::test]
async fn static_discovery_drives_tower_p2c() {
    let registry = Static::new([
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    ]);
    let endpoints = registry.discover("any.Service").map(|change| {
        change.map(|c| match c {
            Change::Insert(id, instance) => {
                let uri = instance.uri();
                let service = tower::service_fn(move |(): ()| {
                    let uri = uri.clone();
                    async move { Ok::<_, Infallible>(uri) }
                });
                tower::discover::Change::Insert(id, service)
            }
            Change::Remove(id) => tower::discover::Change::Remove(id),
        })
    });
    let endpoints = PendingRequestsDiscover::new::<()>(endpoints, CompleteOnResponse::default());
    let mut balance = Balance::new(endpoints);
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let uri = balance
            .ready()
            .await
            .map_err(|e: BoxError| e.to_string())
            .unwrap()
            .call(())
            .await
            .unwrap();
        seen.insert(uri);
    }
    let expected: HashSet<_> = ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        .map(String::from)
        .into();
    assert_eq!(seen, expected);
}
