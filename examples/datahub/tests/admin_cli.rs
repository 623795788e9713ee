//! The admin plane from the command line: `datahub admin …` against a running hub shows its
//! listeners and partition map, pauses and resumes a partition (the listener applies it),
//! adds a shard, plans and runs a move, and shows an event's lineage. And a grpcurl-style
//! client with no stubs (Python, through server reflection) calls `Admin.PartitionMap`.

#[path = "../../../codegen/tests/support/mod.rs"]
mod python;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use arpc_example_datahub::model::Ack;
use arpc_example_datahub::partition::{Group, logical_partition};
use arpc_example_datahub::workload::{Producer, Team};
use support::{HubProcess, TempDir, publish};

/// `datahub admin --addr ADDR ARGS…`: its output, or a panic with its error.
fn admin(addr: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_datahub"))
        .args(["admin", "--addr", addr])
        .args(args)
        .output()
        .expect("datahub admin runs");
    assert!(
        out.status.success(),
        "datahub admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `datahub admin ARGS…` until its output satisfies `ok` (up to `timeout`).
fn admin_until(addr: &str, args: &[&str], timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let out = admin(addr, args);
        if ok(&out) {
            return out;
        }
        assert!(Instant::now() < deadline, "after {timeout:?}: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_command_line_shows_and_changes_a_running_hub() {
    let dir = TempDir::new("admin-cli");
    let hub = HubProcess::start(dir.path(), &[], &[]);
    let publisher = hub.client().await;
    let mut members = Producer::new(Team::Members, 50, 1.0, 3);
    let events: Vec<_> = (0..200).map(|_| members.next_event().0).collect();
    let first = events[0].event_id.clone();
    let response = publish(&publisher, events, Ack::Applied).await;
    let addr = hub.addr.as_str();

    // Listeners: 8 partitions per group, all running, caught up.
    let listeners = admin_until(addr, &["listeners"], Duration::from_secs(10), |out| {
        out.lines().filter(|l| l.contains(" running")).count() == 16
    });
    println!("{listeners}");

    // Pause member/3: the listener applies it and says why; resume lifts it.
    let paused = admin(
        addr,
        &[
            "pause",
            "member",
            "--partition",
            "3",
            "--reason",
            "admin test",
        ],
    );
    assert!(paused.contains("pause member/3: admin test"), "{paused}");
    admin_until(addr, &["listeners"], Duration::from_secs(10), |out| {
        out.lines().any(|l| {
            l.contains(" member ") && l.contains("   3 ") && l.contains("paused: admin test")
        })
    });
    admin(addr, &["resume", "member", "--partition", "3"]);
    admin_until(addr, &["listeners"], Duration::from_secs(10), |out| {
        !out.contains("paused") && out.lines().filter(|l| l.contains(" running")).count() == 16
    });

    // The map: four shards of 512 partitions; a fifth shard added.
    let map = admin(addr, &["map"]);
    assert_eq!(
        map.lines().filter(|l| l.contains(" 512  sqlite:")).count(),
        4,
        "{map}"
    );
    let shard = dir.path().join("shards/extra.sqlite");
    let map = admin(addr, &["add-shard", &format!("sqlite:{}", shard.display())]);
    assert!(map.contains("    4          0  sqlite:"), "{map}");

    // Move member 1's partition to it: planned, then run and completed.
    let lp = logical_partition(Group::Member, "1").lp.to_string();
    let plan = admin(addr, &["move", "member", &lp, "4", "--dry-run"]);
    assert!(plan.contains("planned") && plan.contains("→ 4"), "{plan}");
    let started = admin(addr, &["move", "member", &lp, "4"]);
    let id = started
        .split_whitespace()
        .nth(1)
        .expect("move ID …")
        .to_owned();
    admin_until(
        addr,
        &["move-status", &id],
        Duration::from_secs(30),
        |out| out.contains("cleanup") || out.contains("done"),
    );
    admin(addr, &["complete-move", &id]);
    let done = admin_until(
        addr,
        &["move-status", &id],
        Duration::from_secs(30),
        |out| out.contains(", done;"),
    );
    assert!(done.contains("write pause"), "{done}");
    let map = admin(addr, &["map"]);
    assert!(
        map.contains(&format!("member {lp} → shard 4")),
        "the map shows the move: {map}"
    );

    // Lineage of the first event: its stages in order, and the version it left.
    let lineage = admin(addr, &["lineage", &first]);
    println!("{lineage}");
    let version = response.results[0].applied_version.unwrap();
    assert!(
        lineage.contains(&format!("at version {version}")) && lineage.contains("applied on shard"),
        "{lineage}"
    );
    let stages: Vec<&str> = lineage
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(stages, ["logged", "fetched", "written", "committed"]);
    assert!(admin(addr, &["lineage", "no-such-event"]).contains("not among"));

    // The hottest partitions: member 1's is among them (Zipf: member 1 is the hottest key).
    let hot = admin(addr, &["hot", "--window", "60"]);
    assert!(hot.contains("writes/s"), "{hot}");

    let Some(python) = python::python() else {
        return;
    };
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&python)
        .arg(manifest.join("tests/interop/reflect.py"))
        .args([
            addr.trim_start_matches("http://"),
            "datahub.admin.v1.Admin",
            "PartitionMap",
            "{}",
        ])
        .output()
        .expect("the reflection client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let services = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SERVICES "))
        .unwrap();
    for s in [
        "datahub.admin.v1.Admin",
        "datahub.query.v1.Query",
        "datahub.v1.Publisher",
    ] {
        assert!(services.split(',').any(|x| x == s), "{s} not in {services}");
    }
    let reply = stdout
        .lines()
        .find_map(|l| l.strip_prefix("REPLY "))
        .unwrap();
    assert_eq!(reply.matches("\"url\"").count(), 5, "{reply}");
    assert!(reply.contains(&format!("\"lp\": {lp}")), "{reply}");
}
