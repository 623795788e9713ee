//! A second real third-party gRPC client against a real arpc server process: Node's
//! `@grpc/grpc-js`, loading the checked-in `proto/hello.v1.proto` at run time with
//! `@grpc/proto-loader`, runs the cases in `tests/interop/grpcjs/client.js` (named after the
//! gRPC interop suite) against `hello serve --addr 127.0.0.1:0`: plain unary calls, and large
//! compressible requests sent gzip- and deflate-compressed.
//!
//! Needs the grpc-js modules that `bash .ci/test` installs under `target/grpcjs` (it sets
//! `ARPC_NODE_MODULES`); a plain `cargo test` without them skips, saying so.

mod grpcjs;
mod hello_process;

/// Every case the client must report as passed.
const CASES: &[&str] = &["empty_unary", "large_unary", "gzip_unary", "deflate_unary"];

#[test]
fn node_grpc_js_client_passes_the_interop_cases() {
    let Some(node_modules) = grpcjs::node_modules() else {
        return;
    };
    let server = hello_process::HelloProcess::start(&[]);
    let output = grpcjs::run_client(&node_modules, &server.addr, None);
    drop(server);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let failed: Vec<_> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        failed.is_empty(),
        "failed cases:\n{}\n{stderr}",
        failed.join("\n")
    );
    let passed = grpcjs::passed(&output);
    for case in CASES {
        assert!(
            passed.iter().any(|p| p == case),
            "case `{case}` did not pass\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(
        output.status.success(),
        "the client exited with {}\nstderr:\n{stderr}",
        output.status
    );
}
