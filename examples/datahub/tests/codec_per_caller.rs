//! A codec per caller: `Query.screen`'s policy is `Auto`, so one running hub answers each
//! caller in a codec it reads. A Rust caller that accepts postcard gets postcard, a JSON
//! caller gets JSON, and a real third-party gRPC client (Python grpcio, with stubs generated
//! from the checked-in `proto/datahub.query.v1.proto`) gets protobuf; all three see the same
//! screen. Needs the interop virtualenv that `bash .ci/test` makes (`ARPC_PYTHON`).

#[path = "../../../codegen/tests/support/mod.rs"]
mod python;
mod support;

use std::path::Path;
use std::process::Command;

use arpc::client::CallOptions;
use arpc::codec::{CodecKind, CodecSet};
use arpc_example_datahub::model::{Ack, DisplayScreen, ScreenRequest};
use arpc_example_datahub::workload::{Producer, Team};
use support::{HubProcess, TempDir, publish};

/// The same summary line `tests/interop/screen.py` prints.
fn summary(s: &DisplayScreen) -> String {
    let join = |v: Vec<String>| v.join(",");
    format!(
        "member={} balance={} history={} benefits={} seller={} items={} versions={}",
        s.member.as_ref().map_or("", |m| m.member.name.as_str()),
        s.points.as_ref().map_or(0, |p| p.balance),
        s.history.len(),
        join(
            s.benefits
                .iter()
                .map(|b| b.benefit_id.to_string())
                .collect()
        ),
        s.seller.as_ref().map_or("", |x| x.name.as_str()),
        join(s.items.iter().map(|i| i.item.item_id.to_string()).collect()),
        join(
            s.versions
                .iter()
                .map(|v| format!("{}={}", v.key, v.version))
                .collect()
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_callers_three_codecs_one_screen() {
    let dir = TempDir::new("codec-per-caller");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let (publisher, query) = (hub.client().await, hub.query().await);
    // Member 1 with points, history and benefits; seller 1 with items.
    for team in Team::ALL {
        let mut producer = Producer::new(team, 10, 0.0, 8);
        let events = (0..200).map(|_| producer.next_event().0).collect();
        publish(&publisher, events, Ack::Applied).await;
    }
    let request = ScreenRequest {
        member_id: 1,
        seller_id: 1,
        items: 20,
        ..ScreenRequest::default()
    };

    let postcard = query
        .screen_with(
            request.clone(),
            CallOptions::default().accept(CodecSet::only(CodecKind::Postcard)),
        )
        .await
        .expect("postcard caller");
    assert_eq!(postcard.codec, CodecKind::Postcard);
    let json = query
        .screen_with(
            request.clone(),
            CallOptions::default()
                .codec(CodecKind::Json)
                .accept(CodecSet::only(CodecKind::Json)),
        )
        .await
        .expect("JSON caller");
    assert_eq!(
        (json.request_codec, json.codec),
        (CodecKind::Json, CodecKind::Json)
    );
    assert_eq!(
        postcard.message, json.message,
        "the same screen in both codecs"
    );
    let screen = postcard.message;
    assert!(screen.member.is_some() && screen.seller.is_some() && !screen.items.is_empty());
    assert!(!screen.benefits.is_empty() && !screen.history.is_empty());

    let Some(python) = python::python() else {
        return;
    };
    let stubs = dir.path().join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let protoc = Command::new(&python)
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", manifest.join("proto").display()))
        .arg(format!("--python_out={}", stubs.display()))
        .arg(format!("--grpc_python_out={}", stubs.display()))
        .arg("datahub.query.v1.proto")
        .output()
        .expect("grpc_tools.protoc runs");
    assert!(
        protoc.status.success(),
        "{}",
        String::from_utf8_lossy(&protoc.stderr)
    );
    let addr = hub.addr.trim_start_matches("http://");
    let out = Command::new(&python)
        .arg(manifest.join("tests/interop/screen.py"))
        .args([addr, &stubs.display().to_string(), "1", "1", "20"])
        .output()
        .expect("the grpcio client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SCREEN "))
        .expect("the client prints the screen");
    let (grpcio, bytes) = line.rsplit_once(" bytes=").unwrap();
    assert_eq!(grpcio, summary(&screen), "grpcio decoded the same screen");
    println!("grpcio read the screen in protobuf ({bytes} bytes)");
}
