//! Finding the interop Python (a virtualenv with grpcio-tools) for tests that run protoc.
//! `bash .ci/test` creates it and sets `ARPC_PYTHON` and `ARPC_REQUIRE_INTEROP=1`; a plain
//! `cargo test` without it skips these checks, saying so.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// The interop Python, or `None` (after printing why) when it is not set up and not required.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("ARPC_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("ARPC_REQUIRE_INTEROP").is_some() => {
            panic!("ARPC_REQUIRE_INTEROP is set but ARPC_PYTHON is not; run `bash .ci/test`")
        }
        None => {
            println!(
                "skipped: ARPC_PYTHON is not set (`bash .ci/test` sets up the interop virtualenv)"
            );
            None
        }
    }
}

/// Runs `protoc` (grpc_tools) on `file` with `include` on the import path; returns its stderr
/// on failure.
pub fn protoc(
    python: &std::path::Path,
    include: &std::path::Path,
    file: &std::path::Path,
) -> Result<(), String> {
    let out = tempdir();
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "import grpc_tools, os, sys; from grpc_tools import protoc; \
                inc = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto'); \
                sys.exit(protoc.main(['protoc', '-I' + inc] + sys.argv[1:]))",
        ])
        .arg(format!("-I{}", include.display()))
        .arg(format!("--python_out={}", out.display()))
        .arg(format!("--grpc_python_out={}", out.display()))
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let _ = std::fs::remove_dir_all(&out);
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Compiles `file` with `protoc` (grpc_tools) and returns the encoded `FileDescriptorSet`.
pub fn descriptor_set(
    python: &std::path::Path,
    include: &std::path::Path,
    file: &std::path::Path,
) -> Result<Vec<u8>, String> {
    let out = tempdir().join("set.pb");
    let output = std::process::Command::new(python)
        .args(["-m", "grpc_tools.protoc"])
        .arg(format!("-I{}", include.display()))
        .arg(format!("--descriptor_set_out={}", out.display()))
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let bytes = std::fs::read(&out).map_err(|e| e.to_string())?;
    if let Some(dir) = out.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(bytes)
}

/// A fresh directory under the system temp dir.
pub fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "arpc-protoc-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
