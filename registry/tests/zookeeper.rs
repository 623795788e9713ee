//! The ZooKeeper registry against a real ZooKeeper (Debian's package, started by
//! `arpc_registry::testing::TestingServer`; `bash .ci/test` installs it): Curator's layout and
//! JSON, discovery of arpc- and Curator-registered instances, session expiry, a ZooKeeper
//! restart. Every wait is bounded.
#![cfg(feature = "zookeeper")]

use std::time::{Duration, Instant};

use arpc_registry::testing::{self, TestingServer};
use arpc_registry::{Change, Changes, Discovery, Instance, Registrar, Registry, ZooKeeper};
use futures_util::StreamExt;

/// Short enough for quick expiry, long enough that a loaded 2-core machine starting several
/// JVMs at once does not expire sessions by accident.
const SESSION: Duration = Duration::from_millis(2_500);
const TICK: Duration = Duration::from_millis(100);

/// An address to announce: a real free loopback port (nothing in these tests dials it).
fn some_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn server() -> TestingServer {
    TestingServer::start(TICK).unwrap_or_else(|e| panic!("{e}"))
}

fn registry(server: &TestingServer) -> ZooKeeper {
    match Registry::from_url(&server.url("/arpc", SESSION)).unwrap() {
        Registry::ZooKeeper(zk) => zk,
        Registry::Static(_) => unreachable!(),
    }
}

async fn next(changes: &mut Changes) -> Change {
    tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("a change within 10 s")
        .expect("the stream goes on")
        .expect("no error")
}

/// Polls `check` every 50 ms for up to `limit`.
async fn eventually<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let give_up = Instant::now() + limit;
    while Instant::now() < give_up {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn registers_in_curators_layout_and_is_discovered() {
    let zk = server();
    let registrar = registry(&zk);
    let instance = Instance::new("hello.v1.Greeter", some_addr());
    let mut registration = registrar.register(instance.clone());
    tokio::time::timeout(Duration::from_secs(10), registration.registered())
        .await
        .expect("registered within 10 s");

    // The node: <base>/<service>/<id>, ephemeral, Curator's JSON with its field order.
    let path = format!("/arpc/hello.v1.Greeter/{}", instance.id);
    let (data, owner) = testing::read_node(&zk.connect_string(), &path)
        .await
        .expect("node");
    assert_ne!(owner, 0, "the node must be ephemeral");
    let text = String::from_utf8(data.clone()).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(doc["name"], "hello.v1.Greeter");
    assert_eq!(doc["id"], instance.id.as_str());
    assert_eq!(doc["address"], "127.0.0.1");
    assert_eq!(doc["port"], instance.port);
    assert!(doc["sslPort"].is_null());
    assert_eq!(doc["serviceType"], "DYNAMIC");
    assert_eq!(doc["payload"]["@class"], "java.util.LinkedHashMap");
    assert_eq!(doc["payload"]["codecs"], "proto,json,msgpack,postcard");
    assert!(doc["registrationTimeUTC"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(doc["uriSpec"]["parts"][0]["value"], "scheme");
    let order = [
        "\"name\"",
        "\"id\"",
        "\"address\"",
        "\"port\"",
        "\"sslPort\"",
        "\"payload\"",
        "\"registrationTimeUTC\"",
        "\"serviceType\"",
        "\"uriSpec\"",
    ];
    let positions: Vec<_> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");

    // Another session discovers it, and sees it go.
    let watcher = registry(&zk);
    let mut changes = watcher.discover("hello.v1.Greeter");
    match next(&mut changes).await {
        Change::Insert(id, found) => {
            assert_eq!(id, instance.id);
            assert_eq!(found, instance);
        }
        Change::Remove(id) => panic!("unexpected remove of {id}"),
    }
    registration.deregister().await;
    assert!(matches!(next(&mut changes).await, Change::Remove(id) if id == instance.id));
}

/// Byte for byte what Curator 5.4's `ServiceDiscovery.registerService` writes.
const CURATOR_JSON: &str = r#"{"name":"echo","id":"inst-1","address":"127.0.0.1","port":9000,"sslPort":null,"payload":"hello","registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}}"#;

#[tokio::test]
async fn discovers_instances_that_curator_registered() {
    let zk = server();
    let watcher = registry(&zk);
    // The service directory does not exist yet: discovery waits for it.
    let mut changes = watcher.discover("echo");
    let curator = testing::create_ephemeral(
        &zk.connect_string(),
        "/arpc/echo/inst-1",
        CURATOR_JSON.as_bytes(),
    )
    .await
    .expect("a Curator-style registration");
    match next(&mut changes).await {
        Change::Insert(id, found) => {
            assert_eq!(id, "inst-1");
            assert_eq!((found.address.as_str(), found.port), ("127.0.0.1", 9000));
        }
        Change::Remove(id) => panic!("unexpected remove of {id}"),
    }
    // Curator's session ends: its ephemeral node goes, and discovery says so.
    drop(curator);
    assert!(matches!(next(&mut changes).await, Change::Remove(id) if id == "inst-1"));
}

#[tokio::test]
async fn an_expired_session_registers_again() {
    let zk = server();
    let registrar = registry(&zk);
    let instance = Instance::new("svc", some_addr());
    let path = format!("/arpc/svc/{}", instance.id);
    let mut registration = registrar.register(instance);
    tokio::time::timeout(Duration::from_secs(10), registration.registered())
        .await
        .unwrap();
    let (_, first_owner) = testing::read_node(&zk.connect_string(), &path)
        .await
        .unwrap();

    testing::expire_session(&registrar)
        .await
        .unwrap_or_else(|why| panic!("cannot expire the session: {why}"));
    let connect = zk.connect_string();
    // Back when the registrar says so, in its new session, and the node says the same.
    let back = eventually(Duration::from_secs(15), async || {
        let Some(session) = testing::session_id(&registrar).await else {
            return false;
        };
        registration.is_registered()
            && session != first_owner
            && matches!(testing::read_node(&connect, &path).await, Some((_, owner)) if owner == session)
    })
    .await;
    assert!(back, "the node was not created again in a new session");
}

#[tokio::test]
async fn a_zookeeper_restart_loses_no_registration_and_no_instance() {
    let mut zk = server();
    let registrar = registry(&zk);
    let instance = Instance::new("svc", some_addr());
    let path = format!("/arpc/svc/{}", instance.id);
    let mut registration = registrar.register(instance.clone());
    tokio::time::timeout(Duration::from_secs(10), registration.registered())
        .await
        .unwrap();
    let watcher = registry(&zk);
    let mut changes = watcher.discover("svc");
    assert!(matches!(next(&mut changes).await, Change::Insert(..)));

    // Down for longer than the session timeout: both sessions expire on the clients' side.
    zk.stop();
    tokio::time::sleep(SESSION * 3).await;
    // Discovery said nothing meanwhile: consumers keep the instance.
    let quiet = tokio::time::timeout(Duration::from_millis(100), changes.next()).await;
    assert!(
        quiet.is_err(),
        "discovery reported {quiet:?} during the outage"
    );

    zk.restart().unwrap();
    let connect = zk.connect_string();
    // The restarted server restores the old sessions' nodes until they time out, so the test
    // waits for the node to belong to the registrar's live session, not merely to exist.
    let back = eventually(Duration::from_secs(20), async || {
        let Some(session) = testing::session_id(&registrar).await else {
            return false;
        };
        registration.is_registered()
            && matches!(testing::read_node(&connect, &path).await, Some((_, owner)) if owner == session)
    })
    .await;
    assert!(back, "the registration did not come back after the restart");
    // Whatever discovery says on the way, it ends with the instance present.
    let present = eventually(Duration::from_secs(15), async || {
        testing::list_children(&connect, "/arpc/svc")
            .await
            .is_some_and(|c| c == vec![instance.id.clone()])
    })
    .await;
    assert!(present);
    assert!(registration.is_registered());
}
