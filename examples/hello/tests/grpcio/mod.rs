//! Python grpcio on either side: runs the interop client (`tests/interop/client.py`) against
//! an address (generating its stubs from the checked-in `proto/hello.v1.proto` with
//! `grpc_tools.protoc`, running the named cases or all, returning what it printed), or starts
//! the grpcio Greeter server (`tests/interop/server.py`) for arpc's client to call.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// Generates the Python stubs of the checked-in `proto/hello.v1.proto` into `dir` with
/// `grpc_tools.protoc`.
pub fn generate_stubs(python: &Path, dir: &Path) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = Command::new(python)
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", manifest.join("proto").display()))
        .arg(format!("--python_out={}", dir.display()))
        .arg(format!("--grpc_python_out={}", dir.display()))
        .arg("hello.v1.proto")
        .output()
        .expect("grpc_tools.protoc runs");
    assert!(
        generated.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
}

/// The client's output against `addr` (`host:port`), running `cases` (comma-separated) or
/// every case.
pub fn run_client(python: &Path, tempdir: &Path, addr: &str, cases: Option<&str>) -> Output {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    generate_stubs(python, tempdir);
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

/// A running grpcio Greeter server (`tests/interop/server.py`) on a free loopback port,
/// stopped (its standard input closed, then killed) when dropped.
pub struct GrpcioServer {
    child: Child,
    lines: BufReader<ChildStdout>,
    /// The address it bound (`127.0.0.1:port`).
    pub addr: String,
}

impl GrpcioServer {
    /// Starts the server with the stubs in `stubs` (see [`generate_stubs`]).
    pub fn start(python: &Path, stubs: &Path) -> Self {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(python)
            .arg(manifest.join("tests/interop/server.py"))
            .arg(stubs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the Python server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        lines
            .read_line(&mut line)
            .expect("the server prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the grpcio server: {line:?}"))
            .to_owned();
        Self { child, lines, addr }
    }

    /// Stops the server and returns the methods whose handlers ran, in order (`Echo`, ...).
    pub fn stop(mut self) -> Vec<String> {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let mut calls = Vec::new();
        let mut line = String::new();
        while self.lines.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(method) = line.trim().strip_prefix("handled ") {
                calls.push(method.to_owned());
            }
            line.clear();
        }
        calls
    }
}

impl Drop for GrpcioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cases the output reports as passed.
pub fn passed(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .map(str::to_owned)
        .collect()
}
