//! [`AutoChooser`]: the decisions of [`CodecPolicy::Auto`](super::CodecPolicy::Auto), apart
//! from the clock: which (codec, compression) pair each message of a method travels in, from
//! estimates that measured samples keep up to date.
//!
//! The selector times encoding, compressing and (as an estimate of the peer's work) decoding
//! for the calls this chooser asks it to measure, and records the sample here. Because the
//! chooser never reads a clock, a test can drive it with injected costs and see exactly when
//! it switches (`rpc-core/tests/selection.rs`).
//!
//! How it decides is on [`AutoChooser`].

use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{AutoConfig, CodecKind, CodecSet, SIZE_BUCKETS};
use crate::wire::compress::{Compression, CompressionSet};

const CLASSES: usize = SIZE_BUCKETS.len() + 1;
/// Compressions Auto weighs, in arm order.
const COMPRESSIONS: [Compression; 3] = Compression::CHOSEN_BY_AUTO;
/// Arms: codec × compression.
pub(crate) const ARMS: usize = 4 * COMPRESSIONS.len();
const NONE: u8 = u8::MAX;
/// Weight of a new sample in an arm's moving average.
const ALPHA: f64 = 0.3;
/// A chosen arm whose new sample moves its cost by more than this share has drifted.
const DRIFT: f64 = 0.5;
/// The longest wait before an arm is explored again, in units of `explore_every`.
const MAX_BACKOFF: f64 = 256.0;
/// Samples of the chosen arm in a row that must be off by more than `DRIFT` to call it a
/// drift (one sample may be a preempted thread).
const STRIKES: u8 = 2;
/// A change of an arm's wire bytes per message byte by more than this share, and by more
/// than [`SPREAD`] times the arm's usual deviation: the data changed shape.
const RESHAPE: f64 = 0.2;
/// How many of an arm's usual deviations (the moving mean of how far each message's bytes per
/// message byte fall from the estimate) a sample must be off before it counts as a new shape:
/// messages of one method that differ among themselves (some compress 4×, some 1.5×) do not
/// make every other sample a reshape, while a method whose messages were alike is told at a
/// fifth.
const SPREAD: f64 = 4.0;
/// Weight of a new sample in an arm's spread: slower than [`ALPHA`], so that a few messages
/// near the estimate in a row do not shrink it to nothing.
const SPREAD_ALPHA: f64 = 0.1;

/// The size class of a message of `size` estimated bytes.
pub(crate) fn class_of(size: usize) -> usize {
    SIZE_BUCKETS
        .iter()
        .position(|bound| size < *bound)
        .unwrap_or(SIZE_BUCKETS.len())
}

fn arm_of(codec: CodecKind, compression: Compression) -> usize {
    let c = COMPRESSIONS
        .iter()
        .position(|x| *x == compression)
        .unwrap_or(0);
    codec as usize * COMPRESSIONS.len() + c
}

fn arm_parts(arm: usize) -> (CodecKind, Compression) {
    (
        CodecKind::ALL[arm / COMPRESSIONS.len()],
        COMPRESSIONS[arm % COMPRESSIONS.len()],
    )
}

/// A network price that can change while calls run: nanoseconds of CPU-equivalent cost per
/// byte on the wire. Cloning shares it: a [`Channel`](crate::Channel) hands its price to
/// the clients made on it, and setting it there re-ranks their methods' choices at once.
#[derive(Debug, Clone)]
pub struct NetworkPrice(Arc<AtomicU64>);

impl NetworkPrice {
    /// Loopback or the same host: bytes cost only the CPU that moves them, which is measured.
    pub const LOOPBACK: f64 = 0.0;
    /// The same zone on a 10 Gbit/s network: a byte takes 0.8 ns.
    pub const SAME_ZONE: f64 = 0.8;
    /// Another zone of the region, or a priced 1 Gbit/s link: 8 ns a byte.
    pub const CROSS_ZONE: f64 = 8.0;
    /// Another region (about 100 Mbit/s per flow, and egress fees): 80 ns a byte.
    pub const CROSS_REGION: f64 = 80.0;

    /// A price of `ns_per_byte` (negative or NaN counts as 0).
    pub fn new(ns_per_byte: f64) -> Self {
        Self(Arc::new(AtomicU64::new(sanitize(ns_per_byte).to_bits())))
    }

    /// The price now.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Changes the price for everything sharing it.
    pub fn set(&self, ns_per_byte: f64) {
        self.0
            .store(sanitize(ns_per_byte).to_bits(), Ordering::Relaxed);
    }

    fn bits(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn sanitize(ns: f64) -> f64 {
    if ns.is_finite() && ns > 0.0 { ns } else { 0.0 }
}

/// What the chooser picked for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The codec to encode in.
    pub codec: CodecKind,
    /// The compression to apply (when the message reaches the method's minimum size).
    pub compression: Compression,
    /// Measure this call and [`record`](AutoChooser::record) the sample.
    pub measure: bool,
    class: u8,
    call: u32,
}

/// One measured call: what it cost, per the chooser's definition of cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// CPU nanoseconds: encode + compress + decompress + decode.
    pub cpu_ns: f64,
    /// Bytes on the wire (the message as sent, compressed or not).
    pub wire_bytes: usize,
    /// The message's size estimate (its protobuf `encoded_len`), which costs are divided by
    /// so that messages of different sizes in one class compare.
    pub estimate: usize,
    /// The peer could not have read it back (a codec that cannot represent the message).
    pub failed: bool,
}

/// The estimated cost of one arm in one size class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmCost {
    /// The codec.
    pub codec: CodecKind,
    /// The compression.
    pub compression: Compression,
    /// Measured CPU per byte of message (ns).
    pub cpu_ns_per_byte: f64,
    /// Wire bytes per byte of message.
    pub wire_per_byte: f64,
    /// `cpu_ns_per_byte + wire_per_byte × (price + transport)` at the current network price
    /// (and [`AutoConfig::transport_ns_per_byte`]).
    pub cost_per_byte: f64,
    /// Samples behind the estimate.
    pub samples: u32,
}

/// The decision part of `Auto`: which (codec, compression) pair each message of a method
/// travels in.
///
/// How it decides, per size class ([`SIZE_BUCKETS`](super::SIZE_BUCKETS)):
/// - an **arm** is a (codec, compression) pair; compressions are identity, gzip and zstd, and
///   a class whose messages are all far below the method's `compress_min_bytes` has only the
///   identity arms;
/// - **calibration**: the first calls of a class go to each arm the peer accepts in turn,
///   `samples_per_codec` measured calls each; every measurement of an arm other than the
///   chosen one is preceded by an unmeasured call in that arm, so that it is timed with warm
///   caches, as it would run if chosen (a cold sample overstates it two-fold);
/// - then each call takes the arm of least estimated cost per byte of message,
///   `cpu_ns + wire_bytes × (network_price + transport_ns_per_byte)` (the transport's part:
///   what moving a byte costs both ends in CPU, which the measured call does not see); the
///   two parts are kept apart so that a new network price re-ranks at once, without new
///   samples;
/// - **reshaping**: wire bytes are exact, so an arm whose bytes per message byte move by more
///   than a fifth, and by more than four times how far its messages usually fall from the
///   estimate (their spread: 0 when a method's messages are alike, large when some compress
///   5× and others not at all), means the data changed shape: the class drifted (as below);
/// - **outliers**: a sample more than half off an arm's estimate is held back until the next
///   sample of that arm agrees (which is taken soon), so one slow sample moves nothing;
/// - **tracking**: one call in `resample_every` measures the chosen arm; a sample that moves
///   its cost by more than half, twice in a row, marks the class as drifted: every other
///   arm's estimate is stale, due at once, replaced (not averaged) by its next sample, and exploration runs
///   four times as often until each has been looked at again;
/// - **exploring**: one call in `explore_every` measures another arm, the one longest due; an
///   arm is due again after `explore_every × (its cost / the best cost)²` calls (at most 256 ×
///   `explore_every`), so arms close to the best are checked often, bad ones rarely, and the
///   cost of exploring stays near `(r − 1) / (explore_every × r²)` per arm of cost ratio `r`;
/// - estimates are moving averages (weight 0.3 for each new sample), so old data fades.
///
/// The hot path is one relaxed `fetch_add`, a few loads and comparisons; only measured calls
/// take the class's lock.
#[derive(Debug)]
pub struct AutoChooser {
    config: AutoConfig,
    min_compress_bytes: usize,
    price: NetworkPrice,
    label: &'static str,
    classes: [ClassState; CLASSES],
}

#[derive(Debug)]
struct ClassState {
    calls: AtomicU32,
    /// The arm chosen now (`NONE` until calibrated).
    choice: AtomicU8,
    /// The bits of the network price (not the byte's whole weight) the choice was made at:
    /// a routine call compares them with the price's bits now.
    price_bits: AtomicU64,
    /// Arms with all their calibration samples, as bits.
    calibrated: AtomicU16,
    /// An arm to measure on the next call (`NONE`: none): the call before it sent a message
    /// in that arm unmeasured, so that the measured one runs with warm caches, as the arm
    /// would if it were chosen.
    follow: AtomicU8,
    /// Arms whose estimate predates a drift, as bits: their next sample replaces it, and
    /// exploration runs four times as often until none is left.
    stale: AtomicU16,
    stats: Mutex<ClassStats>,
    /// Calls that took the slow path (under the lock), for the tests.
    #[cfg(test)]
    slow: AtomicU32,
}

impl Default for ClassState {
    fn default() -> Self {
        Self {
            calls: AtomicU32::new(0),
            choice: AtomicU8::new(NONE),
            price_bits: AtomicU64::new(u64::MAX),
            calibrated: AtomicU16::new(0),
            follow: AtomicU8::new(NONE),
            stale: AtomicU16::new(0),
            stats: Mutex::new(ClassStats::default()),
            #[cfg(test)]
            slow: AtomicU32::new(0),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct ArmStat {
    samples: u32,
    /// Samples in a row off the estimate by more than `DRIFT`.
    strikes: u8,
    cpu: f64,
    wire: f64,
    /// The moving mean of `|sample's wire − wire|`: how much this arm's messages differ
    /// among themselves (0 when they are alike).
    wire_spread: f64,
    failed: bool,
    /// The call from which this arm is due to be explored again.
    due: u32,
}

#[derive(Debug, Default)]
struct ClassStats {
    arms: [ArmStat; ARMS],
    switches: u32,
}

impl ArmStat {
    fn cost(&self, price: f64) -> f64 {
        if self.failed {
            f64::INFINITY
        } else {
            self.cpu + self.wire * price
        }
    }
}

impl AutoChooser {
    /// A chooser for a method labelled `label` (its path, for the log), compressing only
    /// messages of at least `min_compress_bytes`.
    pub fn new(
        config: AutoConfig,
        min_compress_bytes: usize,
        price: NetworkPrice,
        label: &'static str,
    ) -> Self {
        Self {
            config,
            min_compress_bytes,
            price,
            label,
            classes: Default::default(),
        }
    }

    /// The network price this chooser weighs bytes with.
    pub fn price(&self) -> &NetworkPrice {
        &self.price
    }

    /// What a byte on the wire weighs against CPU time now (ns): the network's price plus
    /// the CPU the two ends' transports spend moving it; with the bits of the network price
    /// it was read from, which mark a ranking as current.
    fn byte_weight(&self) -> (u64, f64) {
        let bits = self.price.bits();
        (
            bits,
            f64::from_bits(bits) + self.config.transport_ns_per_byte.max(0.0),
        )
    }

    /// Follows `price` from now on (a channel's).
    pub fn set_price_source(&mut self, price: NetworkPrice) {
        self.price = price;
    }

    /// The arms a class may use among what the peer accepts, as bits.
    fn allowed(&self, class: usize, codecs: CodecSet, compressions: CompressionSet) -> u16 {
        // JSON rarely takes more than 4× the protobuf size: a class whose bound is that far
        // under the minimum never sends a compressed message.
        let compress_here = self.config.compress
            && SIZE_BUCKETS
                .get(class)
                .is_none_or(|bound| bound.saturating_mul(4) > self.min_compress_bytes);
        let codecs = if codecs.is_empty() {
            CodecSet::only(CodecKind::Proto)
        } else {
            codecs
        };
        let mut bits = 0u16;
        for codec in codecs.iter() {
            for c in COMPRESSIONS {
                let ok = c == Compression::Identity || (compress_here && compressions.contains(c));
                if ok {
                    bits |= 1 << arm_of(codec, c);
                }
            }
        }
        bits
    }

    /// Picks the arm for a message of `size_estimate` bytes to a peer that reads `codecs`
    /// and `compressions`.
    pub fn choose(
        &self,
        size_estimate: usize,
        codecs: CodecSet,
        compressions: CompressionSet,
    ) -> Pick {
        let class_ix = class_of(size_estimate);
        let class = &self.classes[class_ix];
        let call = class.calls.fetch_add(1, Ordering::Relaxed);
        let allowed = self.allowed(class_ix, codecs, compressions);
        if class.follow.load(Ordering::Relaxed) != NONE {
            let arm = class.follow.swap(NONE, Ordering::AcqRel);
            if arm != NONE && allowed & (1 << arm) != 0 {
                return self.pick(class_ix, usize::from(arm), true, call);
            }
        }
        let choice = class.choice.load(Ordering::Acquire);
        let routine = !self.resample_slot(call)
            && !call.is_multiple_of(self.explore_period(class))
            && choice != NONE
            && allowed & (1 << choice) != 0
            && allowed & !class.calibrated.load(Ordering::Relaxed) == 0
            && class.price_bits.load(Ordering::Relaxed) == self.price.bits();
        if routine {
            return self.pick(class_ix, usize::from(choice), false, call);
        }
        self.choose_slow(class_ix, allowed, call)
    }

    /// Whether `call` re-measures the chosen arm: one in `resample_every`, half-way between
    /// exploration slots so that neither starves the other.
    fn resample_slot(&self, call: u32) -> bool {
        let every = self.config.resample_every;
        call.wrapping_add(every / 2).is_multiple_of(every)
    }

    /// One call in this many explores: `explore_every`, or a quarter of it while estimates
    /// are stale after a drift.
    fn explore_period(&self, class: &ClassState) -> u32 {
        if class.stale.load(Ordering::Relaxed) == 0 {
            self.config.explore_every
        } else {
            (self.config.explore_every / 4).max(2)
        }
    }

    fn pick(&self, class: usize, arm: usize, measure: bool, call: u32) -> Pick {
        let (codec, compression) = arm_parts(arm);
        Pick {
            codec,
            compression,
            measure,
            class: u8::try_from(class).unwrap_or(0),
            call,
        }
    }

    fn choose_slow(&self, class_ix: usize, allowed: u16, call: u32) -> Pick {
        let class = &self.classes[class_ix];
        #[cfg(test)]
        class.slow.fetch_add(1, Ordering::Relaxed);
        let Ok(mut stats) = class.stats.lock() else {
            return self.pick(
                class_ix,
                arm_of(CodecKind::Proto, Compression::Identity),
                false,
                call,
            );
        };
        let (price_bits, price) = self.byte_weight();
        let arms = (0..ARMS).filter(|a| allowed & (1 << a) != 0);
        // Calibration first: the allowed arm with the fewest samples, until each has enough.
        if let Some(arm) = arms
            .clone()
            .filter(|a| stats.arms[*a].samples < self.config.samples_per_codec)
            .min_by_key(|a| stats.arms[*a].samples)
        {
            return self.warm_up(class_ix, arm, call);
        }
        if class.price_bits.load(Ordering::Relaxed) != price_bits {
            self.rerank(
                class_ix,
                &mut stats,
                (price_bits, price),
                "the network price changed",
            );
        }
        let best = self.best(&stats, allowed, price);
        if call.is_multiple_of(self.explore_period(class)) {
            let stale = class.stale.load(Ordering::Relaxed);
            let due = arms
                .filter(|a| *a != best && stats.arms[*a].due <= call)
                .min_by_key(|a| (stale & (1 << a) == 0, stats.arms[*a].due));
            if let Some(arm) = due {
                return self.warm_up(class_ix, arm, call);
            }
        }
        let measure = self.resample_slot(call);
        self.pick(class_ix, best, measure, call)
    }

    /// Sends this call in `arm` unmeasured, and has the next call measure it.
    fn warm_up(&self, class_ix: usize, arm: usize, call: u32) -> Pick {
        let follow = u8::try_from(arm).unwrap_or(NONE);
        self.classes[class_ix]
            .follow
            .store(follow, Ordering::Release);
        self.pick(class_ix, arm, false, call)
    }

    /// The cheapest allowed arm at `price`.
    fn best(&self, stats: &ClassStats, allowed: u16, price: f64) -> usize {
        (0..ARMS)
            .filter(|a| allowed & (1 << a) != 0)
            .min_by(|a, b| {
                stats.arms[*a]
                    .cost(price)
                    .total_cmp(&stats.arms[*b].cost(price))
            })
            .unwrap_or_else(|| arm_of(CodecKind::Proto, Compression::Identity))
    }

    /// Records what a measured call cost.
    pub fn record(&self, pick: Pick, sample: Sample) {
        let class_ix = usize::from(pick.class);
        let Some(class) = self.classes.get(class_ix) else {
            return;
        };
        let Ok(mut stats) = class.stats.lock() else {
            return;
        };
        let arm = arm_of(pick.codec, pick.compression);
        let (price_bits, price) = self.byte_weight();
        let per = sample.estimate.max(1) as f64;
        let (cpu, wire) = (sample.cpu_ns / per, sample.wire_bytes as f64 / per);
        let chosen = usize::from(class.choice.load(Ordering::Relaxed)) == arm;
        let stale = class.stale.fetch_and(!(1 << arm), Ordering::Relaxed) & (1 << arm) != 0;
        let stat = &mut stats.arms[arm];
        let before = stat.cost(price);
        // A sample far off an established estimate is held back until the next one agrees:
        // one slow sample (a page fault, an interrupt) must not move the choice.
        let off = stat.samples >= self.config.samples_per_codec
            && before.is_finite()
            && (cpu + wire * price - before).abs() > DRIFT * before;
        stat.strikes = if off {
            stat.strikes.saturating_add(1)
        } else {
            0
        };
        let confirmed = stat.strikes >= STRIKES;
        // Bytes on the wire are exact, not noisy: a ratio that moves by a fifth, and well
        // beyond how much this arm's messages differ among themselves, means the data
        // changed shape.
        let moved = (wire - stat.wire).abs();
        let reshaped = stat.samples >= self.config.samples_per_codec
            && !sample.failed
            && moved > RESHAPE * stat.wire.max(f64::MIN_POSITIVE)
            && moved > SPREAD * stat.wire_spread;
        if stat.samples > 0 && !sample.failed {
            // Seeded by the first difference, then a slow moving mean.
            let weight = if stat.samples == 1 { 1.0 } else { SPREAD_ALPHA };
            stat.wire_spread += weight * (moved - stat.wire_spread);
        }
        if off && !confirmed && !reshaped && !stale {
            // Look again soon: at the next exploration slot, or the chosen arm's next sample.
            stat.due = pick.call;
            return;
        }
        let drifted = (chosen && confirmed) || reshaped;
        if confirmed {
            stat.strikes = 0;
        }
        if stat.samples == 0 || stale || confirmed || reshaped || stat.failed != sample.failed {
            (stat.cpu, stat.wire) = (cpu, wire);
        } else {
            stat.cpu += ALPHA * (cpu - stat.cpu);
            stat.wire += ALPHA * (wire - stat.wire);
        }
        stat.failed = sample.failed;
        stat.samples = stat.samples.saturating_add(1);
        if stat.samples >= self.config.samples_per_codec {
            class.calibrated.fetch_or(1 << arm, Ordering::Relaxed);
        }
        let after = stat.cost(price);
        let calibrating = stats
            .arms
            .iter()
            .any(|a| a.samples > 0 && a.samples < self.config.samples_per_codec);
        if drifted {
            // The data (or the machine) changed: every other arm is due for a fresh look,
            // its old estimate no longer averaged in.
            for a in &mut stats.arms {
                a.due = pick.call;
            }
            let others = (0..ARMS)
                .filter(|a| *a != arm && stats.arms[*a].samples > 0)
                .fold(0u16, |bits, a| bits | (1 << a));
            class.stale.fetch_or(others, Ordering::Relaxed);
        } else {
            let best = stats
                .arms
                .iter()
                .filter(|a| a.samples > 0)
                .map(|a| a.cost(price))
                .fold(f64::INFINITY, f64::min);
            let ratio = if best > 0.0 && after.is_finite() {
                (after / best).clamp(1.0, MAX_BACKOFF.sqrt())
            } else {
                MAX_BACKOFF.sqrt()
            };
            // At most `explore_every × MAX_BACKOFF` calls: a small positive number.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let wait = (f64::from(self.config.explore_every) * ratio * ratio) as u32;
            stats.arms[arm].due = pick.call.saturating_add(wait);
        }
        if !calibrating {
            self.rerank(class_ix, &mut stats, (price_bits, price), "new samples");
        }
    }

    /// Chooses the cheapest calibrated arm of a class, logging a switch.
    fn rerank(
        &self,
        class_ix: usize,
        stats: &mut ClassStats,
        (price_bits, price): (u64, f64),
        why: &str,
    ) {
        let class = &self.classes[class_ix];
        class.price_bits.store(price_bits, Ordering::Relaxed);
        let calibrated = (0..ARMS).fold(0u16, |bits, a| {
            if stats.arms[a].samples > 0 {
                bits | (1 << a)
            } else {
                bits
            }
        });
        if calibrated == 0 {
            return;
        }
        let best = self.best(stats, calibrated, price);
        let before = class
            .choice
            .swap(u8::try_from(best).unwrap_or(NONE), Ordering::AcqRel);
        if usize::from(before) != best {
            stats.switches = stats.switches.saturating_add(1);
            let (codec, compression) = arm_parts(best);
            let from = if before == NONE {
                "calibration".to_owned()
            } else {
                let (c, z) = arm_parts(usize::from(before));
                format!("{c}+{z}")
            };
            let costs: Vec<String> = (0..ARMS)
                .filter(|a| stats.arms[*a].samples > 0)
                .map(|a| {
                    let (c, z) = arm_parts(a);
                    format!("{c}+{z}={:.2}", stats.arms[a].cost(price))
                })
                .collect();
            tracing::info!(
                target: "arpc::codec::auto",
                method = self.label,
                size_class = class_ix,
                from = %from,
                to = %format_args!("{codec}+{compression}"),
                why,
                network_ns_per_byte = self.price.get(),
                transport_ns_per_byte = self.config.transport_ns_per_byte,
                costs_ns_per_byte = %costs.join(" "),
                "Auto switched"
            );
        }
    }

    /// The arm chosen now for messages of `size_estimate` bytes, once calibrated.
    pub fn choice(&self, size_estimate: usize) -> Option<(CodecKind, Compression)> {
        let choice = self.classes[class_of(size_estimate)]
            .choice
            .load(Ordering::Acquire);
        (choice != NONE).then(|| arm_parts(usize::from(choice)))
    }

    /// How many times the choice of the class of `size_estimate` changed.
    pub fn switches(&self, size_estimate: usize) -> u32 {
        self.classes[class_of(size_estimate)]
            .stats
            .lock()
            .map_or(0, |s| s.switches)
    }

    /// The estimates of every measured arm in the class of `size_estimate`, cheapest first.
    pub fn costs(&self, size_estimate: usize) -> Vec<ArmCost> {
        let Ok(stats) = self.classes[class_of(size_estimate)].stats.lock() else {
            return Vec::new();
        };
        let (_, price) = self.byte_weight();
        let mut out: Vec<ArmCost> = (0..ARMS)
            .filter(|a| stats.arms[*a].samples > 0)
            .map(|a| {
                let (codec, compression) = arm_parts(a);
                let s = stats.arms[a];
                ArmCost {
                    codec,
                    compression,
                    cpu_ns_per_byte: s.cpu,
                    wire_per_byte: s.wire,
                    cost_per_byte: s.cost(price),
                    samples: s.samples,
                }
            })
            .collect();
        out.sort_by(|a, b| a.cost_per_byte.total_cmp(&b.cost_per_byte));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settled_chooser_takes_the_lock_only_to_measure_and_explore() {
        // The routine path reads atomics; the lock is for calibration, the chosen arm's
        // re-measurement (one call in 64) and exploration (one in 128). A ranking marked
        // with the wrong price (the byte's whole weight, not the network price) once sent
        // every call under the lock.
        let auto = AutoChooser::new(
            AutoConfig::default(),
            1024,
            NetworkPrice::new(NetworkPrice::SAME_ZONE),
            "/test.T/M",
        );
        let size = 64;
        let run = |calls: u32| {
            for _ in 0..calls {
                let pick = auto.choose(size, CodecSet::ALL, CompressionSet::ALL);
                if pick.measure {
                    let cpu = if pick.codec == CodecKind::Postcard {
                        50.0
                    } else {
                        200.0
                    };
                    auto.record(
                        pick,
                        Sample {
                            cpu_ns: cpu,
                            wire_bytes: size,
                            estimate: size,
                            failed: false,
                        },
                    );
                }
            }
        };
        run(2_000);
        assert_eq!(
            auto.choice(size),
            Some((CodecKind::Postcard, Compression::Identity))
        );
        let class = &auto.classes[class_of(size)];
        let before = class.slow.load(Ordering::Relaxed);
        let calls = 12_800;
        run(calls);
        let slow = class.slow.load(Ordering::Relaxed) - before;
        assert!(
            slow <= calls / 64 + calls / 128 + 16,
            "{slow} of {calls} calls took the lock"
        );
        // A new price still re-ranks on the next call.
        auto.price().set(NetworkPrice::CROSS_REGION);
        let before = class.slow.load(Ordering::Relaxed);
        run(1);
        assert_eq!(class.slow.load(Ordering::Relaxed) - before, 1);
    }
}
