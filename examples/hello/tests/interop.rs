//! A real third-party gRPC client against a real arpc server process: Python `grpcio`, with
//! stubs that `grpcio-tools` generates from the checked-in `proto/hello.v1.proto`, runs the
//! cases in `tests/interop/client.py` (named after the gRPC interop suite) against
//! `hello serve --addr 127.0.0.1:0`, among them large requests sent gzip- and
//! deflate-compressed. Also lists and describes the services through server reflection
//! (v1alpha and v1) and checks health.
//!
//! Needs the interop virtualenv that `bash .ci/test` makes (it sets `ARPC_PYTHON`); a plain
//! `cargo test` without it skips, saying so.

#[path = "../../../codegen/tests/support/mod.rs"]
mod support;

mod grpcio;
mod hello_process;

/// Every case the client must report as passed.
const CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "gzip_unary",
    "deflate_unary",
    "say_hello",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "cancel_after_begin",
    "oversized_request",
    "health_check",
    "reflection_v1alpha_list_and_describe",
    "reflection_v1_list",
];

#[test]
fn python_grpcio_client_passes_the_interop_cases() {
    let Some(python) = support::python() else {
        return;
    };
    let stubs = support::tempdir();
    let server = hello_process::HelloProcess::start(&[]);
    let output = grpcio::run_client(&python, &stubs, &server.addr, None);
    drop(server);
    let _ = std::fs::remove_dir_all(&stubs);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let failed: Vec<_> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(
        failed.is_empty(),
        "failed cases:\n{}\n{stderr}",
        failed.join("\n")
    );
    let passed = grpcio::passed(&output);
    for case in CASES {
        assert!(
            passed.iter().any(|p| p == case),
            "case `{case}` did not pass\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(
        output.status.success(),
        "the client exited with {}",
        output.status
    );
}
