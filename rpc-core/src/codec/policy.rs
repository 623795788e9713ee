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
/// Auto chooses a (codec, compression) pair per size class ([`SIZE_BUCKETS`](super::SIZE_BUCKETS))
/// of each method, online: it calibrates every pair the peer accepts, then sends each message in
/// the pair of least measured `encode + compress + decompress + decode` CPU time plus
/// `wire bytes × (network price + transport CPU per byte)`, per byte of message, and keeps measuring a bounded share of
/// calls so that it follows when the data or the price changes. The decisions are
/// [`AutoChooser`](super::AutoChooser)'s (its documentation says how); each message is still
/// encoded once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AutoConfig {
    /// What one byte on the wire costs, in nanoseconds of CPU-equivalent time, unless a
    /// [`NetworkPrice`](super::NetworkPrice) says otherwise: the channel's for requests, the
    /// server's or the service's for responses. Default 0.8
    /// ([`NetworkPrice::SAME_ZONE`](super::NetworkPrice::SAME_ZONE)): a 10 Gbit/s link moves a
    /// byte in 0.8 ns, so bytes and CPU weigh about equally on a data-centre network.
    pub network_ns_per_byte: f64,
    /// The CPU time both ends' transports spend per byte on the wire (HTTP/2 framing, copies,
    /// the kernel's TCP), in ns: a byte costs it on any network, loopback included, on top
    /// of the network's price. Default 1.5: about what `benches/benches/adaptive.rs` measures
    /// for arpc over loopback (process CPU per call against request size, protobuf bytes;
    /// 1.2–1.6 on 2 cores).
    pub transport_ns_per_byte: f64,
    /// Calibration samples per (codec, compression) pair and size class. Default 2.
    pub samples_per_codec: u32,
    /// One call in this many measures another pair than the chosen one (exploration), after
    /// one unmeasured call in that pair. Default 128: at most about 1.6 % of calls, most of
    /// them on pairs close to the best.
    pub explore_every: u32,
    /// One call in this many measures the chosen pair, to notice drift. Default 64 (a
    /// measured call decodes a copy of its message, about a third more codec work).
    pub resample_every: u32,
    /// Weigh compressed pairs too (gzip, zstd), for messages of at least the method's
    /// `compress_min_bytes`. Default true.
    pub compress: bool,
}

impl Default for AutoConfig {
    fn default() -> Self {
        Self {
            network_ns_per_byte: super::NetworkPrice::SAME_ZONE,
            transport_ns_per_byte: 1.5,
            samples_per_codec: 2,
            explore_every: 128,
            resample_every: 64,
            compress: true,
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

    /// Sets [`transport_ns_per_byte`](Self::transport_ns_per_byte).
    #[must_use]
    pub fn transport_ns_per_byte(mut self, ns: f64) -> Self {
        self.transport_ns_per_byte = ns;
        self
    }

    /// Sets [`samples_per_codec`](Self::samples_per_codec) (at least 1).
    #[must_use]
    pub fn samples_per_codec(mut self, n: u32) -> Self {
        self.samples_per_codec = n.max(1);
        self
    }

    /// Sets [`explore_every`](Self::explore_every) (at least 2).
    #[must_use]
    pub fn explore_every(mut self, n: u32) -> Self {
        self.explore_every = n.max(2);
        self
    }

    /// Sets [`resample_every`](Self::resample_every) (at least 2).
    #[must_use]
    pub fn resample_every(mut self, n: u32) -> Self {
        self.resample_every = n.max(2);
        self
    }

    /// Sets [`compress`](Self::compress).
    #[must_use]
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }
}
