//! Runs the Python grpcio interop client (`tests/interop/client.py`) against an address:
//! generates its stubs from the checked-in `proto/hello.v1.proto` with `grpc_tools.protoc`,
//! runs the named cases (or all), and returns what it printed.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::process::{Command, Output};

/// The client's output against `addr` (`host:port`), running `cases` (comma-separated) or
/// every case.
pub fn run_client(python: &Path, tempdir: &Path, addr: &str, cases: Option<&str>) -> Output {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = Command::new(python)
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", manifest.join("proto").display()))
        .arg(format!("--python_out={}", tempdir.display()))
        .arg(format!("--grpc_python_out={}", tempdir.display()))
        .arg("hello.v1.proto")
        .output()
        .expect("grpc_tools.protoc runs");
    assert!(
        generated.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let mut client = Command::new(python);
    client
        .arg(manifest.join("tests/interop/client.py"))
        .arg(addr)
        .arg(tempdir);
    if let Some(cases) = cases {
        client.arg(cases);
    }
    client.output().expect("the Python client runs")
}

/// The cases the output reports as passed.
pub fn passed(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .map(str::to_owned)
        .collect()
}
