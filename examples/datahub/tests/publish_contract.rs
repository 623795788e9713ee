//! The publish contract, against a real hub process: every event of a batch gets its own
//! result (one bad event never fails the batch), only valid events are written, duplicates
//! and stale versions change nothing, an event of a domain the hub does not know (from a
//! producer built on a newer schema) is answered `Invalid` alone, and bytes that are no
//! request at all get a gRPC status, never a crash.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use arpc::CallOptions;
use arpc::client::ClientMethod;
use arpc::codec::{CodecKind, CodecPolicy};
use arpc_example_datahub::model::{
    Ack, Benefit, BenefitKind, Domain, Event, Grade, Item, ItemStatus, Member, Payload,
    PointsChange, PublishResponse, Seller, Tombstone,
};
use arpc_example_datahub::partition::Group;
use arpc_example_datahub::workload::{KeyRef, Rng};
use support::{HubProcess, TempDir, View, publish};

fn member(id: u64, event_id: &str, version: u64, name: &str) -> Event {
    Event {
        event_id: event_id.into(),
        partition_key: id.to_string(),
        key: format!("member:{id}"),
        source_version: Some(version),
        occurred_at_ms: 0,
        payload: Payload::Member(Member {
            member_id: id,
            name: name.into(),
            grade: Grade::Silver,
            email: None,
            joined_at: 0,
        }),
        trace_id: None,
    }
}

fn item(id: u64, seller: u64, event_id: &str, discount_rate: f32) -> Event {
    Event {
        event_id: event_id.into(),
        partition_key: seller.to_string(),
        key: format!("item:{id}"),
        source_version: Some(1),
        occurred_at_ms: 0,
        payload: Payload::Item(Item {
            item_id: id,
            seller_id: seller,
            name: "kettle".into(),
            price: 20_000,
            discount_rate,
            stock: 3,
            image_url: String::new(),
            attributes: BTreeMap::new(),
        }),
        trace_id: None,
    }
}

fn key(group: Group, pk: u64, domain: Domain, key: &str) -> KeyRef {
    KeyRef {
        group,
        partition_key: pk.to_string(),
        domain,
        key: key.into(),
    }
}

// A producer built from a newer schema: its `Payload` has a variant this hub does not know.

/// A new domain (unknown to the hub).
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct Voucher {
    code: String,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
enum PayloadV2 {
    Unknown,
    Member(Member),
    Seller(Seller),
    Benefit(Benefit),
    Points(PointsChange),
    Item(Item),
    Delete(Tombstone),
    Voucher(Voucher),
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct EventV2 {
    event_id: String,
    partition_key: String,
    key: String,
    source_version: Option<u64>,
    occurred_at_ms: i64,
    payload: PayloadV2,
    trace_id: Option<String>,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct PublishRequestV2 {
    events: Vec<EventV2>,
    ack: Ack,
    timeout_ms: u32,
}

fn v2(e: Event) -> EventV2 {
    EventV2 {
        event_id: e.event_id,
        partition_key: e.partition_key,
        key: e.key,
        source_version: e.source_version,
        occurred_at_ms: e.occurred_at_ms,
        payload: match e.payload {
            Payload::Member(m) => PayloadV2::Member(m),
            Payload::Item(i) => PayloadV2::Item(i),
            Payload::Seller(s) => PayloadV2::Seller(s),
            other => panic!("not used here: {other:?}"),
        },
        trace_id: e.trace_id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_item_gets_its_own_result_and_only_valid_ones_are_written() {
    let dir = TempDir::new("contract");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let client = hub.client().await;
    let view = View::open(dir.path(), 8).await;

    // A first version of member 10, applied.
    let first = publish(&client, vec![member(10, "m10-v5", 5, "Ada")], Ack::Applied).await;
    assert_eq!(first.results[0].status, ItemStatus::Accepted);
    assert_eq!(first.results[0].applied_version, Some(5));

    // The mixed batch, from a producer on the newer schema, over protobuf (the cross-language
    // wire, where an unknown oneof member is skipped by the reader).
    let mut events = vec![
        v2(item(100, 7, "i100", 0.25)),       // valid
        v2(member(11, "m11-v1", 1, "Grace")), // valid
        EventV2 {
            event_id: "voucher-1".into(),
            partition_key: "11".into(),
            key: "voucher:1".into(),
            source_version: Some(1),
            occurred_at_ms: 0,
            payload: PayloadV2::Voucher(Voucher { code: "NEW".into() }),
            trace_id: None,
        }, // a domain this hub does not know
        v2(item(101, 7, "i101", 1.5)),        // discount out of range
        v2(item(100, 7, "i100", 0.25)),       // the same event id again
        v2(member(10, "m10-v3", 3, "Old Ada")), // older than the stored version 5
        v2(member(12, "", 1, "No id")),       // missing event id
    ];
    let mut mismatched = v2(member(13, "m13", 1, "Linus"));
    mismatched.partition_key = "14".into(); // must be the member id: ordering is per member
    events.push(mismatched);
    let request = PublishRequestV2 {
        events,
        ack: Ack::Applied,
        timeout_ms: 10_000,
    };
    let channel = arpc::Channel::connect(hub.addr.clone()).await.unwrap();
    let method = ClientMethod::new(
        "/datahub.v1.Publisher/Publish",
        CodecPolicy::Fixed(CodecKind::Proto),
    );
    let response: PublishResponse = arpc::client::unary(
        &channel,
        &method,
        &request,
        CallOptions::default().codec(CodecKind::Proto),
    )
    .await
    .expect("the batch is answered, not refused")
    .message;

    let statuses: Vec<&ItemStatus> = response.results.iter().map(|r| &r.status).collect();
    println!("{statuses:#?}");
    assert_eq!(response.results.len(), 8);
    assert_eq!(statuses[0], &ItemStatus::Accepted);
    assert_eq!(statuses[1], &ItemStatus::Accepted);
    assert!(
        matches!(statuses[2], ItemStatus::Invalid(r) if r.contains("does not know")),
        "{:?}",
        statuses[2]
    );
    assert!(
        matches!(statuses[3], ItemStatus::Invalid(r) if r.contains("discount_rate")),
        "{:?}",
        statuses[3]
    );
    assert_eq!(statuses[4], &ItemStatus::Duplicate);
    assert_eq!(statuses[5], &ItemStatus::Stale);
    assert!(matches!(statuses[6], ItemStatus::Invalid(r) if r.contains("event_id")));
    assert!(matches!(statuses[7], ItemStatus::Invalid(r) if r.contains("partition_key")));
    assert_eq!(response.results[0].applied_version, Some(1));
    assert_eq!(
        response.results[4].offset, response.results[0].offset,
        "the duplicate points at the original"
    );

    // What is stored: exactly the valid events.
    let item_row = view
        .row(&key(Group::Seller, 7, Domain::Item, "item:100"))
        .await
        .unwrap();
    assert_eq!(item_row.source_version, 1);
    let ada = view
        .row(&key(Group::Member, 10, Domain::Member, "member:10"))
        .await
        .unwrap();
    assert_eq!(ada.source_version, 5, "the stale version changed nothing");
    assert!(
        view.row(&key(Group::Member, 11, Domain::Member, "member:11"))
            .await
            .is_some()
    );
    assert!(
        view.row(&key(Group::Seller, 7, Domain::Item, "item:101"))
            .await
            .is_none()
    );
    assert!(
        view.row(&key(Group::Member, 14, Domain::Member, "member:13"))
            .await
            .is_none()
    );
    assert!(
        view.row(&key(Group::Member, 13, Domain::Member, "member:13"))
            .await
            .is_none()
    );

    // A retry of the whole first batch is answered Duplicate, and writes nothing new.
    let again = publish(&client, vec![member(10, "m10-v5", 5, "Ada")], Ack::Applied).await;
    assert_eq!(again.results[0].status, ItemStatus::Duplicate);
    assert_eq!(again.results[0].offset, first.results[0].offset);

    // Deletes are versioned tombstones.
    let delete = Event {
        event_id: "del-10".into(),
        partition_key: "10".into(),
        key: "member:10".into(),
        source_version: Some(6),
        occurred_at_ms: 0,
        payload: Payload::Delete(Tombstone {
            domain: Domain::Member,
            key: "member:10".into(),
        }),
        trace_id: None,
    };
    let deleted = publish(&client, vec![delete], Ack::Applied).await;
    assert_eq!(deleted.results[0].status, ItemStatus::Accepted);
    let row = view
        .row(&key(Group::Member, 10, Domain::Member, "member:10"))
        .await
        .unwrap();
    assert!(row.deleted && row.source_version == 6);
    let resurrect = publish(
        &client,
        vec![member(10, "m10-v4", 4, "Ghost")],
        Ack::Applied,
    )
    .await;
    assert_eq!(resurrect.results[0].status, ItemStatus::Stale);

    // Other kinds of payload and their rules.
    let coupon = Event {
        event_id: "b1".into(),
        partition_key: "10".into(),
        key: "benefit:1".into(),
        source_version: None,
        occurred_at_ms: 0,
        payload: Payload::Benefit(Benefit {
            benefit_id: 1,
            member_id: 10,
            kind: BenefitKind::Discount(0),
            title: "nothing off".into(),
            expires_at: 0,
        }),
        trace_id: None,
    };
    let r = publish(&client, vec![coupon], Ack::Durable).await;
    assert!(matches!(&r.results[0].status, ItemStatus::Invalid(m) if m.contains("discount")));
}

/// Sends `body` (already framed) to the publish method as raw HTTP/2, the way a broken or
/// hostile client could; returns the HTTP status and the gRPC status code.
async fn raw_publish(
    addr: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Option<String>, String) {
    use http_body_util::{BodyExt, Full};
    let authority = addr.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = http::Request::post(format!("{addr}/datahub.v1.Publisher/Publish"))
        .header("content-type", content_type)
        .header("te", "trailers")
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let response = send
        .send_request(request)
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let mut headers = response.headers().clone();
    let collected = response
        .into_body()
        .collect()
        .await
        .expect("a whole response");
    if let Some(trailers) = collected.trailers() {
        headers.extend(trailers.clone());
    }
    let code = headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or("?").to_owned());
    let message = headers
        .get("grpc-message")
        .map(|v| v.to_str().unwrap_or("?").to_owned())
        .unwrap_or_default();
    (status, code, message)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8];
    f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_a_status_and_the_hub_keeps_serving() {
    let dir = TempDir::new("garbage");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let mut rng = Rng::new(1234);
    let content_types = [
        "application/grpc",
        "application/grpc+proto",
        "application/grpc+json",
        "application/grpc+msgpack",
        "application/grpc+postcard",
    ];
    let mut codes = BTreeMap::new();
    for round in 0..300 {
        let len = usize::try_from(rng.below(600)).unwrap();
        let mut payload: Vec<u8> = (0..len)
            .map(|_| u8::try_from(rng.below(256)).unwrap())
            .collect();
        if round % 5 == 0 && len > 2 {
            // Almost-valid protobuf: a field 1 (events) whose length runs past the end.
            payload[0] = 0x0a;
            payload[1] = 0xff;
        }
        let truncated = round % 7 == 0;
        let body = if truncated {
            // A frame whose header promises more than it carries.
            let mut f = frame(&payload);
            f.truncate(f.len() / 2);
            f
        } else {
            frame(&payload)
        };
        let ct = content_types[round % content_types.len()];
        let (http, code, message) = raw_publish(&hub.addr, ct, body).await;
        assert_eq!(
            http, 200,
            "gRPC errors travel as HTTP 200 with a grpc-status"
        );
        let code = code.expect("every answer carries a grpc-status");
        assert!(
            !message.contains("panicked"),
            "a handler panicked on round {round}: {message}"
        );
        if truncated {
            // A body that ends inside a message is a broken stream, not a bad payload:
            // INTERNAL, as gRPC's own servers answer it.
            assert_eq!(code, "13", "round {round}: {message}");
        } else {
            // Anything that decoded is answered per item; what did not is refused whole.
            assert!(
                code == "3" || code == "0",
                "round {round}: {code} {message}"
            );
        }
        *codes.entry(code).or_insert(0) += 1;
    }
    println!("grpc-status counts over 300 garbage requests: {codes:?}");
    assert!(
        codes.contains_key("3"),
        "bad payloads are INVALID_ARGUMENT: {codes:?}"
    );
    // Still serving.
    let client = hub.client().await;
    let ok = tokio::time::timeout(
        Duration::from_secs(10),
        publish(
            &client,
            vec![member(20, "after-garbage", 1, "Still")],
            Ack::Applied,
        ),
    )
    .await
    .expect("answers after the garbage");
    assert_eq!(ok.results[0].status, ItemStatus::Accepted);
}
