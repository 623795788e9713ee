//! [`CodecPolicy`]: which codec a method's messages travel in, as data.

use super::CodecKind;

/// How a method picks the codec of each message it sends.
///
/// The policy only ever picks among the codecs the peer accepts; when its preferred codec is
/// not among them it falls back to the first accepted codec in the order
/// proto, postcard, msgpack, json (proto first because every gRPC peer reads it).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CodecPolicy {
    /// Always this codec.
    Fixed(CodecKind),
    /// `small` below `threshold_bytes` (estimated size), `large` from there on. The rule
    /// "compact binary for small messages, JSON for large ones" is
    /// `BySize { small: Postcard, large: Json, threshold_bytes: 16 * 1024 }`; whether it is a
    /// good rule is for the benchmarks to say (see `benches/README.md`).
    BySize {
        /// Codec for messages under the threshold.
        small: CodecKind,
        /// Codec for messages at or over the threshold.
        large: CodecKind,
        /// The boundary, in bytes of the protobuf encoding (the size estimate arpc uses).
        threshold_bytes: usize,
    },
    /// Chosen from measured cost; see [`AutoConfig`].
    Auto(AutoConfig),
}

impl Default for CodecPolicy {
    /// `Fixed(Proto)`: what any gRPC peer expects.
    fn default() -> Self {
        Self::Fixed(CodecKind::Proto)
    }
}

impl CodecPolicy {
    /// `Auto` with the default [`AutoConfig`].
    pub fn auto() -> Self {
        Self::Auto(AutoConfig::default())
    }
}

/// Settings of [`CodecPolicy::Auto`].
///
/// Auto sorts messages into size classes ([`SIZE_BUCKETS`](super::SIZE_BUCKETS)). In each class
/// it first calibrates: it sends `samples_per_codec` messages in each accepted codec (each
/// message is still encoded once), timing encode and, once per sample, decode. It then uses,
/// for every later message of that class, the codec with the least
/// `encode_ns + decode_ns + bytes × network_ns_per_byte` per byte of message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AutoConfig {
    /// What one byte on the wire costs, in nanoseconds of CPU-equivalent time. Default 0.8:
    /// a 10 Gbit/s link moves a byte in 0.8 ns, so bytes and CPU weigh about equally on a
    /// data-centre network. Raise it for slow or metered links.
    pub network_ns_per_byte: f64,
    /// Calibration samples per codec and size class. Default 4: enough to step over a cold
    /// first call, few enough that calibration ends within the first dozens of calls.
    pub samples_per_codec: u32,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            network_ns_per_byte: 0.8,
            samples_per_codec: 4,
        }
    }
}

impl AutoConfig {
    /// Sets [`network_ns_per_byte`](Self::network_ns_per_byte).
    #[must_use]
    pub fn network_ns_per_byte(mut self, ns: f64) -> Self {
        self.network_ns_per_byte = ns;
        self
    }

    /// Sets [`samples_per_codec`](Self::samples_per_codec) (at least 1).
    #[must_use]
    pub fn samples_per_codec(mut self, n: u32) -> Self {
        self.samples_per_codec = n.max(1);
        self
    }
}
