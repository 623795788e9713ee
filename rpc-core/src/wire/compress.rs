//! Message compression the gRPC way: the `grpc-encoding` header names the algorithm of a
//! message whose frame has the compressed flag set, and `grpc-accept-encoding` lists what a
//! peer can read (gRPC's `doc/compression.md`). Two algorithms besides `identity`:
//!
//! | name | crate | why |
//! |---|---|---|
//! | `gzip` | `flate2` on `miniz_oxide` (safe Rust) | what every gRPC implementation speaks (grpcio and grpc-js have only gzip and deflate) |
//! | `zstd` | `zstd` (libzstd) | several times faster than gzip at a similar or better ratio, between peers that both have it |
//!
//! Decompression is bounded: the decompressed bytes count against the message limit while
//! they are produced, and the decoder stops one byte past it, so a message that inflates
//! beyond the limit (a "zip bomb") costs at most the limit in memory and is refused with
//! `RESOURCE_EXHAUSTED`; zstd's own window is capped too. Not wired into the call path
//! yet (issue 12): this is the codec of the bytes, and its tests.

use std::io::Read;

use crate::Status;

/// The header naming a message's compression.
pub const ENCODING_HEADER: &str = "grpc-encoding";
/// The header listing the compressions a peer reads.
pub const ACCEPT_ENCODING_HEADER: &str = "grpc-accept-encoding";

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
    /// Zstandard (RFC 8878).
    Zstd,
}

impl Compression {
    /// Every compression arpc reads and writes.
    pub const ALL: [Compression; 3] = [Compression::Identity, Compression::Gzip, Compression::Zstd];

    /// The name in `grpc-encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Identity => "identity",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression a `grpc-encoding` value names, if arpc has it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name.trim())
    }

    /// The compressions a `grpc-accept-encoding` value lists that arpc has (`identity`
    /// always among them), in the peer's order.
    pub fn parse_accept(value: &str) -> Vec<Compression> {
        let mut out = vec![Compression::Identity];
        for c in value.split(',').filter_map(Self::from_name) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// The `grpc-accept-encoding` value for `set`.
    pub fn accept_value(set: &[Compression]) -> String {
        let names: Vec<&str> = set.iter().map(|c| c.name()).collect();
        names.join(",")
    }

    /// `data` compressed (a copy for `identity`).
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        match self {
            Compression::Identity => data.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(
                    Vec::with_capacity(data.len() / 2 + 64),
                    flate2::Compression::fast(),
                );
                // Writing into a Vec cannot fail.
                let _ = e.write_all(data);
                e.finish().unwrap_or_default()
            }
            Compression::Zstd => zstd::bulk::compress(data, 1).unwrap_or_default(),
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
            Compression::Zstd => {
                // The size a frame declares is known before anything is decoded.
                if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data)
                    && size > limit as u64
                {
                    return Err(DecompressError::TooLarge { limit });
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
        assert_eq!(
            Compression::parse_accept("deflate, gzip,zstd,gzip"),
            vec![Compression::Identity, Compression::Gzip, Compression::Zstd]
        );
        assert_eq!(
            Compression::accept_value(&Compression::ALL),
            "identity,gzip,zstd"
        );
    }
}
