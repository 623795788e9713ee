//! Runs the Node.js grpc-js interop client (`tests/interop/grpcjs/client.js`) against an
//! address. Its modules (`@grpc/grpc-js`, `@grpc/proto-loader`, at the versions its
//! `package-lock.json` pins) live outside the source tree: `bash .ci/test` installs them with
//! `npm ci` in `target/grpcjs` and sets `ARPC_NODE_MODULES` to that `node_modules`; a plain
//! `cargo test` without it skips, saying so, unless `ARPC_REQUIRE_INTEROP` is set.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The grpc-js `node_modules` directory, or `None` (after printing why) when it is not set up
/// and not required.
pub fn node_modules() -> Option<PathBuf> {
    match std::env::var_os("ARPC_NODE_MODULES") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("@grpc/grpc-js").is_dir() && dir.join("@grpc/proto-loader").is_dir(),
                "ARPC_NODE_MODULES ({}) has no @grpc/grpc-js and @grpc/proto-loader; \
                 run `bash .ci/test`",
                dir.display()
            );
            Some(dir)
        }
        None if std::env::var_os("ARPC_REQUIRE_INTEROP").is_some() => {
            panic!("ARPC_REQUIRE_INTEROP is set but ARPC_NODE_MODULES is not; run `bash .ci/test`")
        }
        None => {
            println!(
                "skipped: ARPC_NODE_MODULES is not set (`bash .ci/test` installs grpc-js \
                 under target/grpcjs)"
            );
            None
        }
    }
}

/// The client's output against `addr` (`host:port`), running `cases` (comma-separated) or
/// every case. Runs `node` from `PATH`.
pub fn run_client(node_modules: &Path, addr: &str, cases: Option<&str>) -> Output {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut client = Command::new("node");
    client
        .env("NODE_PATH", node_modules)
        .arg(manifest.join("tests/interop/grpcjs/client.js"))
        .arg(addr);
    if let Some(cases) = cases {
        client.arg(cases);
    }
    client
        .output()
        .unwrap_or_else(|e| panic!("cannot run `node` (Node.js) for the grpc-js client: {e}"))
}

/// The cases the output reports as passed.
pub fn passed(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("PASS "))
        .map(str::to_owned)
        .collect()
}
