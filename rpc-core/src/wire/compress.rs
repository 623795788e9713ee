//! Message compression the gRPC way: the `grpc-encoding` header names the algorithm of a
//! message whose frame has the compressed flag set, and `grpc-accept-encoding` lists what a
//! peer can read (gRPC's `doc/compression.md`). Two algorithms besides `identity`:
//!
//! | name | crate | why |
//! |---|---|---|
//! | `gzip` | `flate2` on `miniz_oxide` (safe Rust) | what every gRPC implementation speaks (grpcio and grpc-js have only gzip and deflate) |
//! | `deflate` | `flate2` (zlib format) | read and written for gRPC peers configured for it (grpcio's and grpc-js's other algorithm) |
//! | `zstd` | `zstd` (libzstd) | several times faster than gzip at a similar or better ratio, between peers that both have it |
//!
//! Decompression is bounded: the decompressed bytes count against the message limit while
//! they are produced, and the decoder stops one byte past it, so a message that inflates
//! beyond the limit (a "zip bomb") costs at most the limit in memory and is refused with
//! `RESOURCE_EXHAUSTED`; zstd's own window is capped too.
//!
//! Where it is used: the server and the client frame messages through `wire::frame`, which
//! sets the flag; which compression a message gets is the method's
//! [`CodecSelector`](crate::codec::CodecSelector)'s choice among those the peer accepts.

use std::io::Read;

use crate::Status;

/// The header naming a message's compression.
pub const ENCODING_HEADER: &str = "grpc-encoding";
/// The header listing the compressions a peer reads.
pub const ACCEPT_ENCODING_HEADER: &str = "grpc-accept-encoding";

thread_local! {
    static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    static ZSTD_DECODER: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    /// Deflate compressors, raw (for gzip) and zlib-wrapped (for `deflate`): miniz_oxide's
    /// state is about 300 KiB, which a compressor per message would allocate and clear each
    /// time, costing more than compressing a small message.
    static DEFLATERS: std::cell::RefCell<[Option<flate2::Compress>; 2]> =
        const { std::cell::RefCell::new([None, None]) };
}

/// The gzip header arpc writes (RFC 1952): deflate, no flags, no time, "fastest" (the
/// extra flags' 4), unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// Appends `data` deflated at flate2's fast level to `out`, zlib-wrapped if `zlib`, with
/// this thread's compressor.
fn deflate_into(data: &[u8], out: &mut Vec<u8>, zlib: bool) {
    DEFLATERS.with(|cell| {
        let mut slots = cell.borrow_mut();
        let c = slots[usize::from(zlib)]
            .get_or_insert_with(|| flate2::Compress::new(flate2::Compression::fast(), zlib));
        c.reset();
        let (in0, len0) = (c.total_in(), out.len());
        out.reserve(data.len() / 2 + 64);
        loop {
            let consumed = usize::try_from(c.total_in() - in0).unwrap_or(data.len());
            match c.compress_vec(&data[consumed..], out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => return,
                // Out of room: more.
                Ok(_) => out.reserve(out.capacity().max(64)),
                // Cannot happen with a reset stream and room to write; should it, the
                // compressor is dropped and the message goes through flate2's own encoder.
                Err(_) => break,
            }
        }
        out.truncate(len0);
        slots[usize::from(zlib)] = None;
        use std::io::Write;
        // Writing into a Vec cannot fail.
        if zlib {
            let mut e = flate2::write::ZlibEncoder::new(out, flate2::Compression::fast());
            let _ = e.write_all(data);
            let _ = e.finish();
        } else {
            let mut e = flate2::write::DeflateEncoder::new(out, flate2::Compression::fast());
            let _ = e.write_all(data);
            let _ = e.finish();
        }
    });
}

/// How many bytes are read from a decoder at a time.
const CHUNK: usize = 16 * 1024;

/// The largest zstd window (log2 bytes) accepted: 8 MiB covers every standard level up to
/// 19 from encoders that do not declare the content size; larger windows are refused
/// before they are allocated.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A message compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// None (`identity`).
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// deflate in the zlib format (RFC 1950), as gRPC's `deflate`.
    Deflate,
    /// Zstandard (RFC 8878).
    Zstd,
}

impl Compression {
    /// Every compression arpc reads and writes.
    pub const ALL: [Compression; 4] = [
        Compression::Identity,
        Compression::Gzip,
        Compression::Deflate,
        Compression::Zstd,
    ];

    /// The compressions [`CodecPolicy::Auto`](crate::codec::CodecPolicy::Auto) weighs:
    /// deflate is gzip without its header, so it is never worth a separate estimate.
    pub const CHOSEN_BY_AUTO: [Compression; 3] =
        [Compression::Identity, Compression::Gzip, Compression::Zstd];

    fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The name in `grpc-encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Identity => "identity",
            Compression::Gzip => "gzip",
            Compression::Deflate => "deflate",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression a `grpc-encoding` value names, if arpc has it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name.trim())
    }

    /// The compressions a `grpc-accept-encoding` value lists that arpc has (`identity`
    /// always among them).
    pub fn parse_accept(value: &str) -> CompressionSet {
        value
            .split(',')
            .filter_map(Self::from_name)
            .fold(CompressionSet::IDENTITY, CompressionSet::with)
    }

    /// The `grpc-accept-encoding` value for `set`.
    pub fn accept_value(set: CompressionSet) -> String {
        let names: Vec<&str> = set.iter().map(Compression::name).collect();
        names.join(",")
    }

    /// `data` compressed (a copy for `identity`).
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        self.compress_into(data, &mut out);
        out
    }

    /// Appends `data` compressed to `out` (gzip and deflate at flate2's fast level, zstd at
    /// level 1: the levels where compression pays for itself on a data-centre network).
    pub fn compress_into(self, data: &[u8], out: &mut Vec<u8>) {
        match self {
            Compression::Identity => out.extend_from_slice(data),
            Compression::Gzip => {
                out.extend_from_slice(&GZIP_HEADER);
                deflate_into(data, out, false);
                let mut crc = flate2::Crc::new();
                crc.update(data);
                out.extend_from_slice(&crc.sum().to_le_bytes());
                // ISIZE: the input's length modulo 2^32 (its low four bytes).
                out.extend_from_slice(&data.len().to_le_bytes()[..4]);
            }
            Compression::Deflate => deflate_into(data, out, true),
            Compression::Zstd => ZSTD.with(|cell| {
                // One compression context per thread: making one per message costs more than
                // compressing a small message.
                let mut slot = cell.borrow_mut();
                if slot.is_none() {
                    *slot = zstd::bulk::Compressor::new(1).ok();
                }
                match slot.as_mut().map(|c| c.compress(data)) {
                    Some(Ok(bytes)) => out.extend_from_slice(&bytes),
                    _ => out.extend_from_slice(&zstd::bulk::compress(data, 1).unwrap_or_default()),
                }
            }),
        }
    }

    /// `data` decompressed, refused once it would exceed `limit` bytes.
    pub fn decompress(self, data: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
        match self {
            Compression::Identity if data.len() > limit => Err(DecompressError::TooLarge { limit }),
            Compression::Identity => Ok(data.to_vec()),
            Compression::Gzip => {
                read_bounded(flate2::read::MultiGzDecoder::new(data), data.len(), limit)
            }
            Compression::Deflate => {
                read_bounded(flate2::read::ZlibDecoder::new(data), data.len(), limit)
            }
            Compression::Zstd => {
                // The size a frame declares is known before anything is decoded.
                if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data)
                    && size > limit as u64
                {
                    return Err(DecompressError::TooLarge { limit });
                }
                // A frame that declares its size (arpc's own do) decodes in one call with
                // this thread's context, into a buffer of exactly that size.
                if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data)
                    && let Ok(size) = usize::try_from(size)
                    && let Some(out) = ZSTD_DECODER.with(|cell| {
                        let mut slot = cell.borrow_mut();
                        if slot.is_none() {
                            *slot = zstd::bulk::Decompressor::new().ok();
                        }
                        let d = slot.as_mut()?;
                        d.window_log_max(ZSTD_WINDOW_LOG_MAX).ok()?;
                        d.decompress(data, size).ok()
                    })
                {
                    return Ok(out);
                }
                let mut decoder = zstd::stream::read::Decoder::with_buffer(data)
                    .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
                decoder
                    .window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| DecompressError::Corrupt(e.to_string()))?;
                read_bounded(decoder, data.len(), limit)
            }
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of compressions: what a peer reads (`grpc-accept-encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompressionSet(u8);

impl CompressionSet {
    /// `identity` only: no compression.
    pub const IDENTITY: CompressionSet = CompressionSet(1);
    /// Every compression arpc has.
    pub const ALL: CompressionSet = CompressionSet(0b1111);
    /// identity, gzip and deflate: what gRPC's own implementations read (grpc-core, so
    /// grpcio and gRPC C++; grpc-java; grpc-js). A client assumes it of a server until the
    /// server lists what it reads: a `grpc-encoding` that grpc-core lacks (zstd) fails the
    /// call, and it then fails every compressed request on that connection (seen with
    /// grpcio 1.85; `examples/hello/tests/interop.rs`).
    pub const GRPC: CompressionSet = CompressionSet(0b0111);

    /// This set with `c` added.
    #[must_use]
    pub fn with(self, c: Compression) -> Self {
        Self(self.0 | c.bit())
    }

    /// This set without `c` (`identity` stays: every peer reads uncompressed messages).
    #[must_use]
    pub fn without(self, c: Compression) -> Self {
        Self((self.0 & !c.bit()) | 1)
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Compression) -> bool {
        self.0 & c.bit() != 0
    }

    /// The compressions in the set, in [`Compression::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Compression> {
        Compression::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The set as bits (bit `c as u8` for each compression `c`), for atomics.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// The set of `bits`, as [`bits`](Self::bits) made them.
    pub(crate) fn from_bits(bits: u8) -> Self {
        Self((bits & 0b1111) | 1)
    }
}

impl Default for CompressionSet {
    /// `identity` only.
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl FromIterator<Compression> for CompressionSet {
    fn from_iter<I: IntoIterator<Item = Compression>>(iter: I) -> Self {
        iter.into_iter().fold(Self::IDENTITY, Self::with)
    }
}

/// Why a message could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecompressError {
    /// It decompresses to more than the limit.
    #[error("decompresses to more than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// It is not valid data of its compression (or needs a larger zstd window than allowed).
    #[error("cannot be decompressed: {0}")]
    Corrupt(String),
}

impl DecompressError {
    /// The status for a request (`what` = "the request") or a response: too large is
    /// `RESOURCE_EXHAUSTED`; corrupt is `INVALID_ARGUMENT` for a request, `INTERNAL` for a
    /// response.
    pub fn into_status(self, what: &str, request: bool) -> Status {
        match self {
            DecompressError::TooLarge { .. } => {
                Status::resource_exhausted(format!("{what} {self}"))
            }
            DecompressError::Corrupt(_) if request => {
                Status::invalid_argument(format!("{what} {self}"))
            }
            DecompressError::Corrupt(_) => Status::internal(format!("{what} {self}")),
        }
    }
}

/// Reads `r` to its end into a buffer that never grows past `limit + 1` bytes.
fn read_bounded(
    mut r: impl Read,
    compressed: usize,
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let cap = limit.saturating_add(1);
    let mut out: Vec<u8> = Vec::with_capacity(compressed.saturating_mul(4).max(64).min(cap));
    let mut chunk = [0u8; CHUNK];
    loop {
        let want = (cap - out.len()).min(CHUNK);
        let n = match r.read(&mut chunk[..want]) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DecompressError::Corrupt(e.to_string())),
        };
        if out.capacity() - out.len() < n {
            // Double, but never past the bound.
            let grow = out.len().max(CHUNK).min(cap - out.len()).max(n);
            out.reserve_exact(grow);
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > limit {
            return Err(DecompressError::TooLarge { limit });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_deflate_state_writes_what_standard_decoders_read() {
        // This thread's compressors serve message after message, of any size, compressible
        // or not (random bytes grow the output buffer); flate2's standard decoders read each
        // result, and the same input always gives the same bytes.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let random: Vec<u8> = (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        for data in [
            sample(2_000),
            random,
            sample(0),
            sample(300_000),
            sample(2_000),
        ] {
            for c in [Compression::Gzip, Compression::Deflate] {
                let packed = c.compress(&data);
                assert_eq!(packed, c.compress(&data), "{c:?} is deterministic");
                let mut plain = Vec::new();
                let read = match c {
                    Compression::Gzip => {
                        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut plain)
                    }
                    _ => flate2::read::ZlibDecoder::new(&packed[..]).read_to_end(&mut plain),
                };
                read.unwrap_or_else(|e| panic!("{c:?} of {} bytes: {e}", data.len()));
                assert_eq!(plain, data, "{c:?} of {} bytes", data.len());
            }
        }
    }

    fn sample(n: usize) -> Vec<u8> {
        // Compressible but not trivial: repeated words with a counter.
        let mut out = Vec::with_capacity(n);
        let mut i = 0u32;
        while out.len() < n {
            out.extend_from_slice(format!("item {i} price {} ", i % 97).as_bytes());
            i += 1;
        }
        out.truncate(n);
        out
    }

    #[test]
    fn every_compression_round_trips() {
        for c in Compression::ALL {
            for n in [0, 1, 100, 70_000, 1 << 20] {
                let data = sample(n);
                let packed = c.compress(&data);
                if c != Compression::Identity && n >= 70_000 {
                    assert!(
                        packed.len() < data.len() / 2,
                        "{c:?} compresses {n} bytes: {}",
                        packed.len()
                    );
                }
                let out = c.decompress(&packed, n).unwrap();
                assert_eq!(out, data, "{c:?} {n}");
                // The buffer never grows past the limit (plus the byte that detects it).
                assert!(
                    out.capacity() <= n + 1,
                    "{c:?} {n}: capacity {}",
                    out.capacity()
                );
            }
        }
    }

    #[test]
    fn a_bomb_is_refused_at_the_limit_without_inflating_it() {
        let limit = 4 << 20;
        let zeros = vec![0u8; 256 << 20];
        for c in [Compression::Gzip, Compression::Zstd] {
            let bomb = c.compress(&zeros);
            assert!(
                bomb.len() < zeros.len() / 200,
                "{c:?} bomb of {} bytes",
                bomb.len()
            );
            let err = c.decompress(&bomb, limit).unwrap_err();
            assert_eq!(err, DecompressError::TooLarge { limit });
            let status = err.into_status("the request", true);
            assert_eq!(status.code(), crate::Code::ResourceExhausted, "{status:?}");
        }
        // Identity counts too.
        assert!(
            Compression::Identity
                .decompress(&zeros[..limit + 1], limit)
                .is_err()
        );
    }

    #[test]
    fn a_zstd_stream_without_a_declared_size_is_bounded_too() {
        use std::io::Write;
        let limit = 1 << 20;
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        e.include_contentsize(false).unwrap();
        e.write_all(&vec![7u8; 32 << 20]).unwrap();
        let bomb = e.finish().unwrap();
        assert_eq!(
            Compression::Zstd.decompress(&bomb, limit),
            Err(DecompressError::TooLarge { limit })
        );
    }

    #[test]
    fn corrupt_data_is_an_error_by_side() {
        for c in [Compression::Gzip, Compression::Zstd] {
            let mut packed = c.compress(&sample(10_000));
            let mid = packed.len() / 2;
            packed[mid] ^= 0xff;
            packed.truncate(mid + 3);
            let err = c.decompress(&packed, 1 << 20).unwrap_err();
            assert!(matches!(err, DecompressError::Corrupt(_)), "{c:?}: {err:?}");
            assert_eq!(
                err.clone().into_status("the request", true).code(),
                crate::Code::InvalidArgument
            );
            assert_eq!(
                err.into_status("the response", false).code(),
                crate::Code::Internal
            );
        }
    }

    #[test]
    fn headers_name_the_compressions() {
        assert_eq!(Compression::from_name("gzip"), Some(Compression::Gzip));
        assert_eq!(Compression::from_name(" zstd"), Some(Compression::Zstd));
        assert_eq!(
            Compression::from_name("identity"),
            Some(Compression::Identity)
        );
        assert_eq!(Compression::from_name("br"), None);
        let set = Compression::parse_accept("br, gzip,zstd,gzip");
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Compression::Identity, Compression::Gzip, Compression::Zstd]
        );
        assert!(!set.contains(Compression::Deflate));
        assert_eq!(
            Compression::accept_value(CompressionSet::ALL),
            "identity,gzip,deflate,zstd"
        );
        assert_eq!(
            CompressionSet::ALL.without(Compression::Identity),
            CompressionSet::ALL
        );
    }
}
