//! Per-partition write rates, skew, and a suggested rebalancing plan; and the two latency
//! histograms the hub reports (publish → applied, and the write pause of cutovers).
//!
//! The write stage counts rows per logical partition; a sampler takes the counters every
//! second, and rates are differences over a sliding window. A partition is hot when its share
//! of the writes is far above `1 / partitions`; the plan is greedy, as in the design: take the
//! hottest partition of the most loaded shard and move it to the least loaded shard (or to a
//! new one) when that lowers the maximum shard load.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::directory::Snapshot;
use crate::partition::{Group, LOGICAL_PARTITIONS, Lp};

/// One partition's rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LpRate {
    /// The partition.
    pub lp: Lp,
    /// Rows written per second over the window.
    pub writes_per_s: f64,
    /// Its share of all writes in the window (0 to 1).
    pub share: f64,
}

/// A suggested move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The partition to move.
    pub lp: Lp,
    /// From this shard.
    pub from: u32,
    /// To this shard (`None`: to a new shard, added first).
    pub to: Option<u32>,
    /// The most loaded shard's rows/s now.
    pub max_load_now: f64,
    /// The most loaded shard's rows/s after the move.
    pub max_load_after: f64,
}

/// Rates, skew and a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotReport {
    /// The window the rates cover (seconds).
    pub window_s: f64,
    /// The hottest partitions, hottest first.
    pub hottest: Vec<LpRate>,
    /// Rows/s per shard.
    pub shard_load: Vec<f64>,
    /// The hottest partition's rate over the mean partition rate (1 = no skew).
    pub skew: f64,
    /// What to move, if anything helps.
    pub suggestion: Option<Suggestion>,
}

/// Counters and histograms of one process.
#[derive(Debug)]
pub struct HotStats {
    rows: Vec<AtomicU64>,
    samples: Mutex<VecDeque<(Instant, Vec<u64>)>>,
    pauses_us: Mutex<Histogram<u64>>,
    latency_ms: Mutex<Histogram<u64>>,
}

fn slot(lp: Lp) -> usize {
    let g = Group::ALL.iter().position(|g| *g == lp.group).unwrap_or(0);
    g * LOGICAL_PARTITIONS as usize + lp.lp as usize
}

fn lp_of(slot: usize) -> Lp {
    let per = LOGICAL_PARTITIONS as usize;
    Lp {
        group: Group::ALL[(slot / per).min(Group::ALL.len() - 1)],
        lp: u32::try_from(slot % per).unwrap_or(0),
    }
}

impl Default for HotStats {
    fn default() -> Self {
        Self::new()
    }
}

impl HotStats {
    /// Empty counters.
    pub fn new() -> Self {
        let n = Group::ALL.len() * LOGICAL_PARTITIONS as usize;
        Self {
            rows: (0..n).map(|_| AtomicU64::new(0)).collect(),
            samples: Mutex::new(VecDeque::new()),
            pauses_us: Mutex::new(histogram(600_000_000)),
            latency_ms: Mutex::new(histogram(3_600_000)),
        }
    }

    /// Counts `n` rows written to `lp`.
    pub fn record(&self, lp: Lp, n: u64) {
        if let Some(c) = self.rows.get(slot(lp)) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Rows written to `lp` since the process started.
    pub fn total(&self, lp: Lp) -> u64 {
        self.rows
            .get(slot(lp))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Records a cutover's write pause.
    pub fn record_pause(&self, ms: f64) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let us = (ms * 1000.0).round().max(1.0) as u64;
        if let Ok(mut h) = self.pauses_us.lock() {
            let _ = h.record(us);
        }
    }

    /// Records a publish → applied latency.
    pub fn record_latency(&self, ms: i64) {
        if let Ok(mut h) = self.latency_ms.lock() {
            let _ = h.record(u64::try_from(ms).unwrap_or(0).max(1));
        }
    }

    /// Write pauses of cutovers: count, p50, p99, max (ms).
    pub fn pauses(&self) -> Quantiles {
        self.pauses_us
            .lock()
            .map(|h| Quantiles::of(&h, 0.001))
            .unwrap_or_default()
    }

    /// Publish → applied latency: count, p50, p99, max (ms).
    pub fn latency(&self) -> Quantiles {
        self.latency_ms
            .lock()
            .map(|h| Quantiles::of(&h, 1.0))
            .unwrap_or_default()
    }

    /// Forgets the latency histogram (for per-interval figures).
    pub fn reset_latency(&self) {
        if let Ok(mut h) = self.latency_ms.lock() {
            h.reset();
        }
    }

    /// Takes a sample of the counters (call every second); keeps a minute.
    pub fn sample(&self) {
        let now: Vec<u64> = self
            .rows
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        if let Ok(mut samples) = self.samples.lock() {
            samples.push_back((Instant::now(), now));
            while samples.len() > 61 {
                samples.pop_front();
            }
        }
    }

    /// Rates over the last `window` (as far as samples go back), hottest first.
    pub fn rates(&self, window: Duration) -> (f64, Vec<LpRate>) {
        let Ok(samples) = self.samples.lock() else {
            return (0.0, Vec::new());
        };
        let Some((t1, last)) = samples.back() else {
            return (0.0, Vec::new());
        };
        let first = samples
            .iter()
            .find(|(t, _)| t1.duration_since(*t) <= window)
            .unwrap_or(&samples[0]);
        let secs = t1.duration_since(first.0).as_secs_f64();
        if secs <= 0.0 {
            return (0.0, Vec::new());
        }
        let deltas: Vec<u64> = last
            .iter()
            .zip(&first.1)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let total: u64 = deltas.iter().sum();
        #[allow(clippy::cast_precision_loss)]
        let mut rates: Vec<LpRate> = deltas
            .iter()
            .enumerate()
            .filter(|(_, d)| **d > 0)
            .map(|(i, d)| LpRate {
                lp: lp_of(i),
                writes_per_s: *d as f64 / secs,
                share: *d as f64 / total.max(1) as f64,
            })
            .collect();
        rates.sort_by(|a, b| b.writes_per_s.total_cmp(&a.writes_per_s));
        (secs, rates)
    }

    /// The hottest partitions, the load per shard, the skew and a suggested move.
    pub fn report(&self, snapshot: &Snapshot, window: Duration, top: usize) -> HotReport {
        let (secs, rates) = self.rates(window);
        let shards = snapshot.state.shards.len();
        let mut load = vec![0.0; shards];
        for r in &rates {
            if let Some(l) = load.get_mut(snapshot.placement(r.lp).shard as usize) {
                *l += r.writes_per_s;
            }
        }
        let sum: f64 = rates.iter().map(|r| r.writes_per_s).sum();
        #[allow(clippy::cast_precision_loss)]
        let mean = sum / (Group::ALL.len() as f64 * f64::from(LOGICAL_PARTITIONS));
        let skew = rates.first().map_or(1.0, |r| {
            if mean > 0.0 {
                r.writes_per_s / mean
            } else {
                1.0
            }
        });
        let suggestion = suggest(snapshot, &rates, &load);
        HotReport {
            window_s: secs,
            hottest: rates.into_iter().take(top).collect(),
            shard_load: load,
            skew,
            suggestion,
        }
    }
}

/// The greedy plan: the hottest partition of the most loaded shard goes to the least loaded
/// shard if that lowers the maximum load, or to a new shard if even the least loaded one
/// would end up above the current maximum.
fn suggest(snapshot: &Snapshot, rates: &[LpRate], load: &[f64]) -> Option<Suggestion> {
    let (max_shard, max_load) = load
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, l)| (u32::try_from(i).unwrap_or(0), *l))?;
    let hottest = rates.iter().find(|r| {
        let p = snapshot.placement(r.lp);
        p.shard == max_shard && p.state == crate::directory::PlacementState::Stable
    })?;
    let (min_shard, min_load) = load
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != max_shard as usize)
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, l)| (u32::try_from(i).unwrap_or(0), *l))
        .unwrap_or((max_shard, max_load));
    let after_existing = (max_load - hottest.writes_per_s).max(min_load + hottest.writes_per_s);
    let others_max = load
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != max_shard as usize)
        .map(|(_, l)| *l)
        .fold(0.0, f64::max);
    if min_shard != max_shard && after_existing < max_load * 0.95 {
        return Some(Suggestion {
            lp: hottest.lp,
            from: max_shard,
            to: Some(min_shard),
            max_load_now: max_load,
            max_load_after: after_existing.max(others_max),
        });
    }
    let after_new = (max_load - hottest.writes_per_s).max(others_max);
    (after_new < max_load * 0.95).then_some(Suggestion {
        lp: hottest.lp,
        from: max_shard,
        to: None,
        max_load_now: max_load,
        max_load_after: after_new,
    })
}

/// A few quantiles of a histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Quantiles {
    #[allow(clippy::cast_precision_loss)]
    fn of(h: &Histogram<u64>, scale: f64) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.5) as f64 * scale,
            p99: h.value_at_quantile(0.99) as f64 * scale,
            max: h.max() as f64 * scale,
        }
    }
}

/// A histogram of 1 to `high` with 3 significant digits (auto-resizing past `high`).
fn histogram(high: u64) -> Histogram<u64> {
    let mut h =
        Histogram::new_with_bounds(1, high, 3).expect("1 < high and 3 digits are valid bounds");
    h.auto(true);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{DirectoryState, ShardSpec};

    #[test]
    fn the_plan_moves_the_hottest_partition_off_the_busiest_shard() {
        let stats = HotStats::new();
        stats.sample();
        let hot = Lp {
            group: Group::Member,
            lp: 4,
        };
        stats.record(hot, 9000);
        for lp in 0..64 {
            stats.record(
                Lp {
                    group: Group::Member,
                    lp,
                },
                100,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
        stats.sample();
        let shards = (0..4)
            .map(|i| ShardSpec {
                url: format!("sqlite:/tmp/{i}"),
                added_ms: 0,
            })
            .collect();
        let snapshot = Snapshot::new(1, DirectoryState::new(shards));
        let report = stats.report(&snapshot, Duration::from_secs(10), 3);
        assert_eq!(report.hottest[0].lp, hot);
        assert!(report.skew > 50.0, "{report:?}");
        let s = report.suggestion.unwrap();
        assert_eq!((s.lp, s.from), (hot, 0));
        // Shard 0 carries the hot partition: no existing shard can take it without ending
        // up as loaded, so the plan asks for a new shard.
        assert_eq!(s.to, None, "{s:?}");
        assert!(s.max_load_after < s.max_load_now);
    }
}
