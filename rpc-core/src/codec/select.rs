//! [`CodecSelector`]: applies a [`CodecPolicy`] (and the method's compression) to each
//! message a method sends.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::auto::{AutoChooser, NetworkPrice, Pick, Sample};
use super::{CodecKind, CodecPolicy, CodecSet, EncodeError};
use crate::Message;
use crate::wire::compress::{Compression, CompressionSet};

/// Upper bounds (exclusive, in bytes of the protobuf encoding) of the size classes that
/// [`CodecPolicy::Auto`] calibrates separately; a fifth class holds everything larger.
/// The boundaries follow the benchmark sizes (64 B, 1 KiB, 16 KiB, 256 KiB, 4 MiB), one per
/// class, because codecs rank differently at different sizes.
pub const SIZE_BUCKETS: [usize; 4] = [256, 4 * 1024, 64 * 1024, 1024 * 1024];

/// Messages smaller than this (encoded, in bytes) are sent uncompressed by default: gzip's
/// 18 bytes of framing and the call to the compressor cost more than they save (Connect's
/// `compressMinBytes` default on its own protocol).
pub const DEFAULT_COMPRESS_MIN_BYTES: usize = 1024;

/// When the preferred codec is not accepted: proto first (every gRPC peer reads it), then the
/// compact binary formats, then JSON.
const FALLBACK: [CodecKind; 4] = [
    CodecKind::Proto,
    CodecKind::Postcard,
    CodecKind::MsgPack,
    CodecKind::Json,
];

/// How one message was sent: its codec and its compression (`Identity` when it went
/// uncompressed, whatever was asked: below the minimum size, or not smaller compressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Encoded {
    /// The codec.
    pub codec: CodecKind,
    /// The compression.
    pub compression: Compression,
    /// The encoded message's size before compression, in bytes.
    pub size: usize,
}

/// Picks a codec (and compression) for, and encodes, each outgoing message of one method.
///
/// One selector per method, shared by all its calls (it is `Sync`). On the hot path it does
/// not lock and never encodes a message twice: `BySize` and `Auto` estimate the size with the
/// protobuf `encoded_len`, a walk over the message that writes nothing, and reuse it to reserve
/// the output buffer.
#[derive(Debug)]
pub struct CodecSelector {
    policy: CodecPolicy,
    compression: Compression,
    min_compress_bytes: usize,
    auto: Option<Box<AutoChooser>>,
}

impl CodecSelector {
    /// A selector applying `policy`, compressing nothing (but what `Auto` chooses to).
    pub fn new(policy: CodecPolicy) -> Self {
        Self::for_method(
            policy,
            Compression::Identity,
            DEFAULT_COMPRESS_MIN_BYTES,
            "",
        )
    }

    /// A selector for the method `label` (its path, for logs): `policy` picks the codec;
    /// `compression` is applied (when the peer reads it) to messages of at least
    /// `min_compress_bytes` under `Fixed` and `BySize`; `Auto` chooses its own compression
    /// among those the peer reads, for messages of at least `min_compress_bytes`.
    pub fn for_method(
        policy: CodecPolicy,
        compression: Compression,
        min_compress_bytes: usize,
        label: &'static str,
    ) -> Self {
        let auto = match &policy {
            CodecPolicy::Auto(config) => Some(Box::new(AutoChooser::new(
                config.clone(),
                min_compress_bytes,
                NetworkPrice::new(config.network_ns_per_byte),
                label,
            ))),
            _ => None,
        };
        Self {
            policy,
            compression,
            min_compress_bytes,
            auto,
        }
    }

    /// Weighs bytes by `price` from now on (for `Auto`): a channel's price, shared.
    #[must_use]
    pub fn priced(mut self, price: NetworkPrice) -> Self {
        if let Some(auto) = self.auto.as_deref_mut() {
            auto.set_price_source(price);
        }
        self
    }

    /// The policy this selector applies.
    pub fn policy(&self) -> &CodecPolicy {
        &self.policy
    }

    /// The compression applied under `Fixed` and `BySize`.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Messages under this many encoded bytes are never compressed.
    pub fn min_compress_bytes(&self) -> usize {
        self.min_compress_bytes
    }

    /// `Auto`'s chooser (its estimates and current choices); `None` for other policies.
    pub fn auto(&self) -> Option<&AutoChooser> {
        self.auto.as_deref()
    }

    /// Picks a codec among `accepted` for `msg` and appends its encoding to `dst`,
    /// uncompressed. An empty `accepted` set means protobuf only.
    pub fn encode<T: Message>(
        &self,
        msg: &T,
        accepted: CodecSet,
        dst: &mut BytesMut,
    ) -> Result<CodecKind, EncodeError> {
        self.encode_with(msg, accepted, CompressionSet::IDENTITY, dst)
            .map(|e| e.codec)
    }

    /// Picks a codec among `codecs` and a compression among `compressions` for `msg`, and
    /// appends the message to `dst`, compressed when that was chosen, the message reaches
    /// the minimum size, and it comes out smaller.
    pub fn encode_with<T: Message>(
        &self,
        msg: &T,
        codecs: CodecSet,
        compressions: CompressionSet,
        dst: &mut BytesMut,
    ) -> Result<Encoded, EncodeError> {
        let codecs = if codecs.is_empty() {
            CodecSet::only(CodecKind::Proto)
        } else {
            codecs
        };
        let start = dst.len();
        let codec = match &self.policy {
            CodecPolicy::Fixed(codec) => {
                let codec = prefer(*codec, codecs);
                codec.encode(msg, dst)?;
                codec
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
                let codec = prefer(*wanted, codecs);
                encode_sized(codec, msg, estimate, dst)?;
                codec
            }
            CodecPolicy::Auto(_) => {
                let auto = self.auto.as_deref().expect("Auto policy has state");
                return self.encode_auto(auto, msg, codecs, compressions, dst);
            }
        };
        let size = dst.len() - start;
        let compression = if compressions.contains(self.compression) {
            compress_tail(self.compression, dst, start, self.min_compress_bytes)
        } else {
            Compression::Identity
        };
        Ok(Encoded {
            codec,
            compression,
            size,
        })
    }

    fn encode_auto<T: Message>(
        &self,
        auto: &AutoChooser,
        msg: &T,
        codecs: CodecSet,
        compressions: CompressionSet,
        dst: &mut BytesMut,
    ) -> Result<Encoded, EncodeError> {
        let estimate = msg.encoded_len();
        let pick = auto.choose(estimate, codecs, compressions);
        let start = dst.len();
        if !pick.measure {
            encode_sized(pick.codec, msg, estimate, dst)?;
            let size = dst.len() - start;
            let compression = compress_tail(pick.compression, dst, start, self.min_compress_bytes);
            return Ok(Encoded {
                codec: pick.codec,
                compression,
                size,
            });
        }
        self.measured(auto, pick, msg, estimate, dst, start)
    }

    /// Encodes as `pick` says, timing encode and compress, then decompresses and decodes a
    /// copy to time the peer's part (measured here, on this machine, as an estimate: it
    /// needs nothing from the peer and the same code runs there), and records the sample.
    /// The message is encoded once; a compressed one is compressed twice (once to warm the
    /// compressor), on measured calls only.
    fn measured<T: Message>(
        &self,
        auto: &AutoChooser,
        pick: Pick,
        msg: &T,
        estimate: usize,
        dst: &mut BytesMut,
        start: usize,
    ) -> Result<Encoded, EncodeError> {
        // Four readings of the thread's CPU clock (a system call, ~0.6 µs in a VM), five
        // when a compressor is warmed: each reading ends one part and starts the next.
        let t0 = CpuClock::now();
        encode_sized(pick.codec, msg, estimate, dst)?;
        let size = dst.len() - start;
        let mut t1 = CpuClock::now();
        let mut sent = t1.since(&t0);
        if pick.compression != Compression::Identity && size >= self.min_compress_bytes {
            // Compressors keep large tables: measured once in a while, they would be timed
            // with those tables out of the caches, as they never are when the pair is in
            // use. One unmeasured round trip first warms them.
            let mut scratch = Vec::with_capacity(size / 2 + 64);
            pick.compression.compress_into(&dst[start..], &mut scratch);
            let _ = pick.compression.decompress(&scratch, size);
            t1 = CpuClock::now();
        }
        let compression = compress_tail(pick.compression, dst, start, self.min_compress_bytes);
        let t2 = CpuClock::now();
        sent += t2.since(&t1);
        let failed = match compression {
            Compression::Identity => {
                let copy = Bytes::copy_from_slice(&dst[start..]);
                pick.codec.decode::<T>(copy).is_err()
            }
            c => match c.decompress(&dst[start..], usize::MAX) {
                Ok(plain) => pick.codec.decode::<T>(Bytes::from(plain)).is_err(),
                Err(_) => true,
            },
        };
        let received = CpuClock::now().since(&t2);
        auto.record(
            pick,
            Sample {
                cpu_ns: sent + received,
                wire_bytes: dst.len() - start,
                estimate,
                failed,
            },
        );
        Ok(Encoded {
            codec: pick.codec,
            compression,
            size,
        })
    }

    /// For `Auto`: the measured cost per message byte (ns) of each codec, uncompressed, in
    /// the size class of `size_estimate`, `None` for codecs not yet measured there. All
    /// `None` for other policies.
    pub fn measured_costs(&self, size_estimate: usize) -> [Option<f64>; 4] {
        let mut out = [None; 4];
        if let Some(auto) = &self.auto {
            for c in auto.costs(size_estimate) {
                if c.compression == Compression::Identity {
                    out[c.codec as usize] = Some(c.cost_per_byte);
                }
            }
        }
        out
    }
}

/// Compresses `dst[start..]` in place with `c` if it is at least `min` bytes and comes out
/// smaller; the compression used.
pub(crate) fn compress_tail(
    c: Compression,
    dst: &mut BytesMut,
    start: usize,
    min: usize,
) -> Compression {
    let len = dst.len() - start;
    if c == Compression::Identity || len < min {
        return Compression::Identity;
    }
    let mut out = Vec::with_capacity(len / 2 + 64);
    c.compress_into(&dst[start..], &mut out);
    if out.is_empty() || out.len() >= len {
        return Compression::Identity;
    }
    dst.truncate(start);
    dst.extend_from_slice(&out);
    c
}

/// The CPU time this thread has run, where the platform tells (wall time elsewhere): a
/// measurement in wall time would count the time the thread waited for a core, which on a
/// busy machine inflates every CPU cost against the price of bytes.
enum CpuClock {
    #[cfg(unix)]
    Thread(rustix::time::Timespec),
    #[cfg_attr(unix, allow(dead_code))]
    Wall(Instant),
}

impl CpuClock {
    fn now() -> Self {
        #[cfg(unix)]
        {
            CpuClock::Thread(rustix::time::clock_gettime(
                rustix::time::ClockId::ThreadCPUTime,
            ))
        }
        #[cfg(not(unix))]
        {
            CpuClock::Wall(Instant::now())
        }
    }

    /// Nanoseconds from `earlier` to this reading (0 if the clock went back).
    #[allow(clippy::cast_precision_loss)]
    fn since(&self, earlier: &Self) -> f64 {
        match (self, earlier) {
            #[cfg(unix)]
            (CpuClock::Thread(now), CpuClock::Thread(start)) => {
                let ns =
                    (now.tv_sec - start.tv_sec) as f64 * 1e9 + (now.tv_nsec - start.tv_nsec) as f64;
                ns.max(0.0)
            }
            (CpuClock::Wall(now), CpuClock::Wall(start)) => {
                now.saturating_duration_since(*start).as_nanos() as f64
            }
            #[cfg(unix)]
            _ => 0.0,
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

#[cfg(test)]
mod tests {
    use super::super::auto::class_of;
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
