//! [`CodecSelector`]: applies a [`CodecPolicy`] to each message a method sends.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{AutoConfig, CodecKind, CodecPolicy, CodecSet, EncodeError};
use crate::Message;

/// Upper bounds (exclusive, in bytes of the protobuf encoding) of the size classes that
/// [`CodecPolicy::Auto`] calibrates separately; a fifth class holds everything larger.
/// The boundaries follow the benchmark sizes (64 B, 1 KiB, 16 KiB, 256 KiB, 4 MiB), one per
/// class, because codecs rank differently at different sizes.
pub const SIZE_BUCKETS: [usize; 4] = [256, 4 * 1024, 64 * 1024, 1024 * 1024];
const CLASSES: usize = SIZE_BUCKETS.len() + 1;

/// When the preferred codec is not accepted: proto first (every gRPC peer reads it), then the
/// compact binary formats, then JSON.
const FALLBACK: [CodecKind; 4] = [
    CodecKind::Proto,
    CodecKind::Postcard,
    CodecKind::MsgPack,
    CodecKind::Json,
];

/// Picks a codec for, and encodes, each outgoing message of one method.
///
/// One selector per method, shared by all its calls (it is `Sync`). On the hot path it does
/// not lock and never encodes a message twice: `BySize` and `Auto` estimate the size with the
/// protobuf `encoded_len`, a walk over the message that writes nothing, and reuse it to reserve
/// the output buffer.
#[derive(Debug)]
pub struct CodecSelector {
    policy: CodecPolicy,
    auto: Option<Box<AutoState>>,
}

impl CodecSelector {
    /// A selector applying `policy`.
    pub fn new(policy: CodecPolicy) -> Self {
        let auto = match &policy {
            CodecPolicy::Auto(config) => Some(Box::new(AutoState::new(config.clone()))),
            _ => None,
        };
        Self { policy, auto }
    }

    /// The policy this selector applies.
    pub fn policy(&self) -> &CodecPolicy {
        &self.policy
    }

    /// Picks a codec among `accepted` for `msg` and appends its encoding to `dst`.
    /// An empty `accepted` set means protobuf only.
    pub fn encode<T: Message>(
        &self,
        msg: &T,
        accepted: CodecSet,
        dst: &mut BytesMut,
    ) -> Result<CodecKind, EncodeError> {
        let accepted = if accepted.is_empty() {
            CodecSet::only(CodecKind::Proto)
        } else {
            accepted
        };
        match &self.policy {
            CodecPolicy::Fixed(codec) => {
                let codec = prefer(*codec, accepted);
                codec.encode(msg, dst)?;
                Ok(codec)
            }
            CodecPolicy::BySize {
                small,
                large,
                threshold_bytes,
            } => {
                let estimate = msg.encoded_len();
                let wanted = if estimate < *threshold_bytes {
                    small
                } else {
                    large
                };
                let codec = prefer(*wanted, accepted);
                encode_sized(codec, msg, estimate, dst)?;
                Ok(codec)
            }
            CodecPolicy::Auto(_) => {
                let auto = self.auto.as_deref().expect("Auto policy has state");
                let estimate = msg.encoded_len();
                auto.encode(msg, estimate, accepted, dst)
            }
        }
    }

    /// For `Auto`: the measured cost per message byte (ns) of each codec in the size class of
    /// `size_estimate`, `None` for codecs not yet calibrated there. All `None` for other
    /// policies.
    pub fn measured_costs(&self, size_estimate: usize) -> [Option<f64>; 4] {
        match &self.auto {
            Some(auto) => auto.costs(class_of(size_estimate)),
            None => [None; 4],
        }
    }
}

fn prefer(codec: CodecKind, accepted: CodecSet) -> CodecKind {
    if accepted.contains(codec) {
        codec
    } else {
        FALLBACK
            .into_iter()
            .find(|c| accepted.contains(*c))
            .unwrap_or(CodecKind::Proto)
    }
}

/// Encodes with a known protobuf size: exact for proto, a capacity hint for the others.
fn encode_sized<T: Message>(
    codec: CodecKind,
    msg: &T,
    estimate: usize,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    dst.reserve(estimate);
    if codec == CodecKind::Proto {
        msg.encode_raw(dst);
        Ok(())
    } else {
        codec.encode(msg, dst)
    }
}

fn class_of(size: usize) -> usize {
    SIZE_BUCKETS
        .iter()
        .position(|bound| size < *bound)
        .unwrap_or(SIZE_BUCKETS.len())
}

#[derive(Debug)]
struct AutoState {
    config: AutoConfig,
    classes: [ClassState; CLASSES],
}

#[derive(Debug, Default)]
struct ClassState {
    /// Bit `c` set: codec `c` has all its calibration samples in this class.
    calibrated: AtomicU8,
    /// Codec numbers ordered by cost, cheapest first, two bits each.
    ranking: AtomicU8,
    stats: Mutex<[Stat; 4]>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Stat {
    samples: u32,
    cost_per_byte_sum: f64,
}

impl AutoState {
    fn new(config: AutoConfig) -> Self {
        Self {
            config,
            classes: Default::default(),
        }
    }

    fn encode<T: Message>(
        &self,
        msg: &T,
        estimate: usize,
        accepted: CodecSet,
        dst: &mut BytesMut,
    ) -> Result<CodecKind, EncodeError> {
        let class = &self.classes[class_of(estimate)];
        let calibrated = class.calibrated.load(Ordering::Acquire);
        let missing = accepted
            .iter()
            .filter(|c| calibrated & (1 << *c as u8) == 0)
            .min_by_key(|c| class.stats.lock().map_or(0, |s| s[*c as usize].samples));
        if let Some(codec) = missing {
            self.calibrate(class, codec, msg, estimate, dst)?;
            return Ok(codec);
        }
        let ranking = class.ranking.load(Ordering::Acquire);
        let codec = (0..4)
            .map(|i| CodecKind::ALL[usize::from((ranking >> (2 * i)) & 0b11)])
            .find(|c| accepted.contains(*c))
            .unwrap_or(CodecKind::Proto);
        encode_sized(codec, msg, estimate, dst)?;
        Ok(codec)
    }

    /// Encodes with `codec`, timing it; decodes the result once to time that too; records the
    /// cost. Only the first `samples_per_codec` messages per codec and class come here.
    fn calibrate<T: Message>(
        &self,
        class: &ClassState,
        codec: CodecKind,
        msg: &T,
        estimate: usize,
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let start = dst.len();
        let t0 = Instant::now();
        encode_sized(codec, msg, estimate, dst)?;
        let encode_ns = t0.elapsed().as_nanos() as f64;
        let bytes = dst.len() - start;
        let copy = Bytes::copy_from_slice(&dst[start..]);
        let t1 = Instant::now();
        let decoded = codec.decode::<T>(copy);
        let decode_ns = t1.elapsed().as_nanos() as f64;
        // A codec that cannot read back what it wrote must never win.
        let penalty = if decoded.is_ok() { 0.0 } else { f64::INFINITY };
        let cost = encode_ns + decode_ns + bytes as f64 * self.config.network_ns_per_byte;
        let per_byte = cost / estimate.max(1) as f64 + penalty;

        let Ok(mut stats) = class.stats.lock() else {
            return Ok(());
        };
        let stat = &mut stats[codec as usize];
        stat.samples += 1;
        stat.cost_per_byte_sum += per_byte;
        if stat.samples >= self.config.samples_per_codec {
            let mut order: Vec<(usize, f64)> = stats
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let done = s.samples >= self.config.samples_per_codec;
                    let mean = s.cost_per_byte_sum / f64::from(s.samples.max(1));
                    (i, if done { mean } else { f64::MAX })
                })
                .collect();
            order.sort_by(|a, b| a.1.total_cmp(&b.1));
            let ranking = order
                .iter()
                .enumerate()
                .fold(0u8, |acc, (slot, (codec, _))| {
                    acc | (u8::try_from(*codec).unwrap_or(0) << (2 * slot))
                });
            class.ranking.store(ranking, Ordering::Release);
            class
                .calibrated
                .fetch_or(1 << codec as u8, Ordering::AcqRel);
        }
        Ok(())
    }

    fn costs(&self, class: usize) -> [Option<f64>; 4] {
        let Ok(stats) = self.classes[class].stats.lock() else {
            return [None; 4];
        };
        stats.map(|s| {
            (s.samples >= self.config.samples_per_codec)
                .then(|| s.cost_per_byte_sum / f64::from(s.samples))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_follow_bucket_bounds() {
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(255), 0);
        assert_eq!(class_of(256), 1);
        assert_eq!(class_of(64 * 1024), 3);
        assert_eq!(class_of(usize::MAX), 4);
    }

    #[test]
    fn fallback_prefers_proto_then_compact() {
        let json_pc: CodecSet = [CodecKind::Json, CodecKind::Postcard].into_iter().collect();
        assert_eq!(prefer(CodecKind::MsgPack, json_pc), CodecKind::Postcard);
        assert_eq!(prefer(CodecKind::Json, json_pc), CodecKind::Json);
        assert_eq!(
            prefer(CodecKind::Json, CodecSet::only(CodecKind::Proto)),
            CodecKind::Proto
        );
    }
}
