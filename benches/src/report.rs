//! Collecting benchmark timings and writing them out: JSON under `target/arpc-bench/`, and a
//! Markdown table spliced into `benches/README.md` between `<!-- NAME:begin -->` and
//! `<!-- NAME:end -->` markers.
//!
//! Timings come from criterion's `iter_custom`: every sample criterion takes is recorded, and
//! the median per-iteration time is reported (robust against the noise of a shared machine).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Per-iteration times (ns) of every sample, by benchmark key.
#[derive(Debug, Default)]
pub struct Samples {
    by_key: Mutex<BTreeMap<String, Vec<f64>>>,
}

impl Samples {
    /// Records one criterion sample: `iters` iterations took `elapsed`.
    #[allow(clippy::cast_precision_loss)]
    pub fn record(&self, key: &str, iters: u64, elapsed: Duration) {
        if iters == 0 {
            return;
        }
        let per_iter = elapsed.as_nanos() as f64 / iters as f64;
        if let Ok(mut map) = self.by_key.lock() {
            map.entry(key.to_owned()).or_default().push(per_iter);
        }
    }

    /// The median per-iteration time of `key`, in nanoseconds.
    pub fn median(&self, key: &str) -> Option<f64> {
        let map = self.by_key.lock().ok()?;
        let mut v = map.get(key)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }
}

/// Whether this process is a real benchmark run (`cargo bench`), not `cargo test` running the
/// bench target once in test mode. Only real runs write results.
pub fn is_bench_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `target/arpc-bench/` of this workspace (or of `CARGO_TARGET_DIR`).
pub fn results_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("arpc-bench")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Writes `value` as pretty JSON to `target/arpc-bench/{name}.json`; returns the path.
pub fn write_json(name: &str, value: &serde_json::Value) -> std::io::Result<PathBuf> {
    let dir = results_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

/// Replaces the text between `<!-- {section}:begin -->` and `<!-- {section}:end -->` in
/// `benches/README.md` with `content`.
pub fn splice_readme(section: &str, content: &str) -> std::io::Result<()> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path)?;
    let begin = format!("<!-- {section}:begin -->");
    let end = format!("<!-- {section}:end -->");
    let (Some(b), Some(e)) = (text.find(&begin), text.find(&end)) else {
        return Err(std::io::Error::other(format!(
            "{} lacks the markers {begin} … {end}",
            path.display()
        )));
    };
    let spliced = format!(
        "{}{begin}\n{}\n{}",
        &text[..b],
        content.trim_end(),
        &text[e..]
    );
    std::fs::write(&path, spliced)
}

/// Nanoseconds every thread of this process has run, client and server alike when both are
/// in the process (`/proc/self/task/*/schedstat`; 0 where there is no `/proc`).
pub fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One line naming the machine and toolchain a run was measured on.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / (1024 * 1024));
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem_gib} GiB; {rustc}; release profile")
}

/// Formats nanoseconds for a table: `850 ns`, `12.3 µs`, `4.56 ms`.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

/// Formats a byte count: `812 B`, `15.9 KiB`, `3.98 MiB`.
#[allow(clippy::cast_precision_loss)]
pub fn fmt_bytes(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}
