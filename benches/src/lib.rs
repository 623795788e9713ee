//! Payloads and reporting for arpc's benchmarks.
//!
//! - [`payloads`]: three message shapes (numeric-heavy, string-heavy, and the nested "display
//!   screen" of a shopping app), each as an arpc message and as a prost-derived mirror, built
//!   to a target protobuf size.
//! - [`report`]: medians collected during a criterion run, written to
//!   `target/arpc-bench/*.json` and as a table into `benches/README.md`.

pub mod payloads;
pub mod report;
