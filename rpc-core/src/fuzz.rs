//! Fuzz targets: the parsers of foreign bytes, each as a function that must never panic
//! whatever it is given. `fuzz/` runs them under libFuzzer (`cargo +nightly fuzz run frame`),
//! and `rpc-core/tests/fuzz_targets.rs` runs the same functions over a bounded, seeded stream
//! of random and mutated inputs on stable Rust, inside the test command. Not public API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue};

use crate::codec::CodecKind;
use crate::wire::{self, ContentType};

/// A message with every shape a decoder handles: scalars, strings, bytes, options, lists,
/// maps, nested messages, an enum and a oneof.
#[crate::message]
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzMessage {
    /// A flag.
    pub flag: bool,
    /// A signed number.
    pub number: i64,
    /// An unsigned number.
    pub count: u32,
    /// Text.
    pub text: String,
    /// Bytes.
    pub blob: Vec<u8>,
    /// Maybe a number.
    pub maybe: Option<i32>,
    /// A list.
    pub list: Vec<u64>,
    /// A map.
    pub map: BTreeMap<String, u32>,
    /// Nested messages.
    pub children: Vec<FuzzChild>,
    /// A oneof.
    pub choice: FuzzChoice,
}

/// A nested message.
#[crate::message]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FuzzChild {
    /// A name.
    pub name: String,
    /// An enum.
    pub level: FuzzLevel,
}

/// An enum.
#[crate::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FuzzLevel {
    /// The zero value.
    #[default]
    Low = 0,
    /// Another.
    High = 7,
}

/// A oneof.
#[crate::message]
#[derive(Debug, Clone, PartialEq)]
pub enum FuzzChoice {
    /// Nothing chosen.
    None,
    /// A number.
    Number(u64),
    /// Text.
    Text(String),
    /// A nested message.
    Child(FuzzChild),
}

/// A sample, for seeding mutations.
pub fn sample() -> FuzzMessage {
    FuzzMessage {
        flag: true,
        number: -42,
        count: 7,
        text: "héllo".into(),
        blob: vec![0, 255, 3],
        maybe: Some(-1),
        list: vec![1, 300, u64::MAX],
        map: [("a".to_owned(), 1), ("bb".to_owned(), 2)].into(),
        children: vec![FuzzChild {
            name: "kid".into(),
            level: FuzzLevel::High,
        }],
        choice: FuzzChoice::Child(FuzzChild::default()),
    }
}

/// `sample()` in `codec`.
pub fn encoded_sample(codec: CodecKind) -> Vec<u8> {
    let mut buf = BytesMut::new();
    codec
        .encode(&sample(), &mut buf)
        .expect("the sample encodes");
    buf.to_vec()
}

/// Decodes `data` in every codec. What decodes must encode again and decode to the same
/// message (a decoder that accepts bytes it cannot reproduce would corrupt data).
pub fn decode(data: &[u8]) {
    for codec in CodecKind::ALL {
        let Ok(message) = codec.decode::<FuzzMessage>(Bytes::copy_from_slice(data)) else {
            continue;
        };
        let mut again = BytesMut::new();
        codec
            .encode(&message, &mut again)
            .expect("a decoded message encodes");
        let round = codec
            .decode::<FuzzMessage>(again.freeze())
            .expect("a re-encoded message decodes");
        assert_eq!(round, message, "{codec} does not round-trip");
    }
}

/// Reads `data` as a unary gRPC body (split into chunks at the first byte's value), with a
/// small limit, and a compressed message as each compression arpc has: an answer or a
/// status, never a panic, never more than the limit.
pub fn frame(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> =
        [&data[..split], &data[split..]]
            .into_iter()
            .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
            .collect();
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
    let result = wire::read_message(body, 1024, "request")
        .now_or_never()
        .expect("a ready body reads at once");
    if let Ok((Some(frame), _)) = result {
        assert!(
            frame.bytes.len() <= 1024,
            "a message over the limit was returned"
        );
        for c in crate::codec::Compression::ALL {
            let frame = wire::Frame {
                bytes: frame.bytes.clone(),
                compressed: frame.compressed,
            };
            if let Ok(message) = frame.into_message(Some(c), 1024, "request", true) {
                assert!(message.len() <= 1024, "{c} inflated past the limit");
            }
        }
    }
}

/// Reads `data` as the text of the headers arpc parses: content-type, `arpc-accept`,
/// `grpc-timeout`, and `grpc-status` with `grpc-message`.
pub fn headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = ContentType::parse(&text);
    let _ = CodecKind::from_content_type(&text);
    let _ = wire::parse_accept(&text);
    if let Some(timeout) = wire::parse_timeout(&text) {
        // What parses renders back to something that parses to the same time or less.
        let rendered = wire::format_timeout(timeout);
        assert!(wire::parse_timeout(&rendered).is_some_and(|t| t <= timeout));
    }
    let mut map = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(data) {
        map.insert("grpc-status", value.clone());
        map.insert("grpc-message", value);
        let _ = wire::status::read(&map);
        let _ = wire::status::code(&map);
    }
}

/// Inputs per target in a bounded run.
pub const RUNS: usize = 20_000;
/// The most time a bounded run of one target takes.
pub const BUDGET: Duration = Duration::from_secs(20);

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

/// A random input, or a mutation of one of `seeds`.
fn input(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.below(4) == 0 {
        let len = rng.below(256);
        return (0..len).map(|_| rng.next().to_le_bytes()[0]).collect();
    }
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next().to_le_bytes()[0];
            }
            2 => data.truncate(rng.below(data.len() + 1)),
            3 if !data.is_empty() => {
                let (a, b) = (rng.below(data.len()), rng.below(data.len()));
                let (a, b) = (a.min(b), a.max(b));
                let copy = data[a..b].to_vec();
                let at = rng.below(data.len());
                data.splice(at..at, copy);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                data.extend_from_slice(&other[..cut]);
            }
        }
    }
    data
}

/// Runs `target` over up to `RUNS` inputs (within `BUDGET`) from a seeded stream of random
/// bytes and mutations of `seeds`; panics naming the input on which `target` panicked.
pub fn run(name: &str, seed: u64, seeds: &[Vec<u8>], target: fn(&[u8])) {
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut done = 0;
    while done < RUNS && started.elapsed() < BUDGET {
        let data = input(&mut rng, seeds);
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(
            outcome.is_ok(),
            "{name} panicked on input #{done} (seed {seed:#x}): {data:?}"
        );
        done += 1;
    }
    println!("{name}: {done} inputs in {:?}", started.elapsed());
}
