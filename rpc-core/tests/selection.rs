//! Codec policies: Fixed, BySize and Auto choose as documented, among accepted codecs only,
//! and encode each message once.

mod support;

use arpc::codec::{AutoConfig, CodecKind, CodecPolicy, CodecSelector, CodecSet};
use bytes::BytesMut;
use support::*;

fn blob_of(size: usize) -> Scalars {
    let mut m = <Scalars as arpc::proto::ProtoElem>::empty();
    m.text = "x".repeat(size);
    m
}

fn choose(selector: &CodecSelector, msg: &Scalars, accepted: CodecSet) -> CodecKind {
    let mut buf = BytesMut::new();
    let codec = selector.encode(msg, accepted, &mut buf).unwrap();
    // What was written is the chosen codec's encoding, once.
    let mut alone = BytesMut::new();
    codec.encode(msg, &mut alone).unwrap();
    assert_eq!(buf, alone, "{codec}");
    codec
}

#[test]
fn fixed_uses_its_codec_or_falls_back() {
    let s = CodecSelector::new(CodecPolicy::Fixed(CodecKind::Json));
    let msg = blob_of(10);
    assert_eq!(choose(&s, &msg, CodecSet::ALL), CodecKind::Json);
    let binary: CodecSet = [CodecKind::MsgPack, CodecKind::Postcard]
        .into_iter()
        .collect();
    assert_eq!(choose(&s, &msg, binary), CodecKind::Postcard);
    assert_eq!(choose(&s, &msg, CodecSet::EMPTY), CodecKind::Proto);
}

#[test]
fn by_size_switches_at_the_threshold() {
    let s = CodecSelector::new(CodecPolicy::BySize {
        small: CodecKind::Postcard,
        large: CodecKind::Json,
        threshold_bytes: 1000,
    });
    // Proto size of a string field: key (1) + length varint (2 at these sizes) + bytes.
    assert_eq!(
        choose(&s, &blob_of(996), CodecSet::ALL),
        CodecKind::Postcard
    );
    assert_eq!(choose(&s, &blob_of(997), CodecSet::ALL), CodecKind::Json);
    assert_eq!(
        choose(&s, &blob_of(5000), CodecSet::only(CodecKind::MsgPack)),
        CodecKind::MsgPack
    );
}

#[test]
fn auto_calibrates_every_accepted_codec_then_settles() {
    let samples = 3;
    let s = CodecSelector::new(CodecPolicy::Auto(
        AutoConfig::default().samples_per_codec(samples),
    ));
    let msg = blob_of(2000);
    let accepted: CodecSet = [CodecKind::Proto, CodecKind::Json, CodecKind::Postcard]
        .into_iter()
        .collect();
    let mut used = std::collections::HashMap::new();
    for _ in 0..2 * 3 * samples {
        *used.entry(choose(&s, &msg, accepted)).or_insert(0) += 1;
    }
    // Calibration: each accepted codec sent exactly `samples` times measured, each after an
    // unmeasured warm-up call; MessagePack never.
    assert_eq!(used.get(&CodecKind::Proto), Some(&(2 * samples)));
    assert_eq!(used.get(&CodecKind::Json), Some(&(2 * samples)));
    assert_eq!(used.get(&CodecKind::Postcard), Some(&(2 * samples)));
    let costs = s.measured_costs(2000);
    assert!(costs[CodecKind::MsgPack as usize].is_none());
    let cheapest = accepted
        .iter()
        .min_by(|a, b| {
            costs[*a as usize]
                .unwrap()
                .total_cmp(&costs[*b as usize].unwrap())
        })
        .unwrap();
    // Settled: the cheapest measured codec from now on.
    for _ in 0..10 {
        assert_eq!(choose(&s, &msg, accepted), cheapest);
    }
    // A narrower peer gets its own best among what it accepts.
    assert_eq!(
        choose(&s, &msg, CodecSet::only(CodecKind::Json)),
        CodecKind::Json
    );
    // Another size class calibrates on its own.
    assert!(s.measured_costs(10).iter().all(Option::is_none));
}

#[test]
fn auto_weighs_bytes_by_network_cost() {
    // With bytes made very expensive, the smallest encoding must win: for a message of many
    // small integers, postcard (varints, no names) beats JSON by far.
    let s = CodecSelector::new(CodecPolicy::Auto(
        AutoConfig::default()
            .network_ns_per_byte(1.0e6)
            .samples_per_codec(1),
    ));
    let mut msg = <Containers as arpc::proto::ProtoElem>::empty();
    msg.small = (0..500).map(|i| i % 100).collect();
    let both: CodecSet = [CodecKind::Json, CodecKind::Postcard].into_iter().collect();
    let mut last = CodecKind::Json;
    for _ in 0..8 {
        let mut buf = BytesMut::new();
        last = s.encode(&msg, both, &mut buf).unwrap();
    }
    assert_eq!(last, CodecKind::Postcard);
}

/// Drives `Auto`'s chooser with injected costs (no clock): a table of (cpu ns, wire bytes)
/// per byte of message for each (codec, compression) pair.
mod injected {
    use arpc::codec::{
        AutoChooser, AutoConfig, CodecKind, CodecSet, Compression, CompressionSet, NetworkPrice,
        Sample,
    };

    const SIZE: usize = 10_000;

    /// Every pair costs `base`, but for the ones listed.
    fn table(
        cheap: &[(CodecKind, Compression, f64, f64)],
    ) -> impl Fn(CodecKind, Compression) -> (f64, f64) + '_ {
        move |codec, compression| {
            cheap
                .iter()
                .find(|(c, z, _, _)| *c == codec && *z == compression)
                .map_or((6.0, 1.5), |(_, _, cpu, wire)| (*cpu, *wire))
        }
    }

    /// Runs `calls` calls; the pairs chosen, in order.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn run(
        chooser: &AutoChooser,
        calls: usize,
        costs: &dyn Fn(CodecKind, Compression) -> (f64, f64),
    ) -> Vec<(CodecKind, Compression)> {
        (0..calls)
            .map(|_| {
                let pick = chooser.choose(SIZE, CodecSet::ALL, CompressionSet::ALL);
                if pick.measure {
                    let (cpu, wire) = costs(pick.codec, pick.compression);
                    chooser.record(
                        pick,
                        Sample {
                            cpu_ns: cpu * SIZE as f64,
                            wire_bytes: (wire * SIZE as f64) as usize,
                            estimate: SIZE,
                            failed: false,
                        },
                    );
                }
                (pick.codec, pick.compression)
            })
            .collect()
    }

    fn chooser(price: f64) -> AutoChooser {
        AutoChooser::new(
            AutoConfig::default(),
            1024,
            NetworkPrice::new(price),
            "/test.T/M",
        )
    }

    #[test]
    fn calibrates_settles_and_explores_a_bounded_share() {
        let auto = chooser(0.8);
        let best = (CodecKind::Postcard, Compression::Identity);
        let cheap = [(best.0, best.1, 1.0, 1.0)];
        let picks = run(&auto, 5_000, &table(&cheap));
        // 4 codecs × 3 compressions, 2 samples each after a warm-up call, then the cheapest.
        assert_eq!(auto.choice(SIZE), Some(best));
        let settled = &picks[48..];
        let others = settled.iter().filter(|p| **p != best).count();
        // Exploration: at most one call in `explore_every` (128) goes elsewhere, and the one
        // after it (the measured one, after a warm-up).
        assert!(
            others <= 2 * (settled.len() / 128 + 1),
            "{others} of {} calls explored",
            settled.len()
        );
        assert!(others > 0, "it never explored");
    }

    #[test]
    fn messages_that_differ_among_themselves_are_not_a_change_of_shape() {
        // Every message of the method is different: compressed, some shrink to a quarter,
        // some to half (a display screen of text, one of numbers), at random. Uncompressed,
        // their sizes match. Reading each such sample as a new shape would make every
        // estimate stale again and again, and the chooser would keep re-surveying.
        let auto = chooser(0.8);
        let best = (CodecKind::Postcard, Compression::Identity);
        let after = (CodecKind::Json, Compression::Zstd);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let ratio = std::cell::Cell::new(0.4);
        let changed = std::cell::Cell::new(false);
        let costs = |codec, compression| match (codec, compression) {
            p if p == best => (if changed.get() { 3.0 } else { 1.0 }, 1.0),
            p if p == after && changed.get() => (1.2, ratio.get() / 2.0),
            (_, Compression::Identity) => (6.0, 1.5),
            _ => (6.0, ratio.get()),
        };
        let mut calls = |n: usize| {
            let mut picks = Vec::new();
            for _ in 0..n {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ratio.set(0.25 + f64::from(u8::try_from(state % 31).unwrap()) / 100.0);
                picks.extend(run(&auto, 1, &costs));
            }
            picks
        };
        let picks = calls(5_000);
        assert_eq!(auto.choice(SIZE), Some(best));
        let settled = &picks[48..];
        let others = settled.iter().filter(|p| **p != best).count();
        eprintln!("{others} of {} calls explored", settled.len());
        assert!(
            others <= 2 * (settled.len() / 128 + 1) + 2 * 11,
            "{others} of {} calls explored",
            settled.len()
        );
        // A real change is still followed: the chosen pair costs 3× as much, JSON with zstd
        // is now the best (its messages differ among themselves too).
        changed.set(true);
        let picks = calls(1_000);
        assert_eq!(auto.choice(SIZE), Some(after));
        let first = picks.iter().position(|p| *p == after).unwrap();
        eprintln!("switched to {after:?} after {first} calls");
    }

    #[test]
    fn follows_a_change_of_the_data_within_a_thousand_calls() {
        let auto = chooser(0.8);
        let before = (CodecKind::Postcard, Compression::Identity);
        let after = (CodecKind::Json, Compression::Zstd);
        let cheap = [(before.0, before.1, 1.0, 1.0)];
        run(&auto, 2_000, &table(&cheap));
        assert_eq!(auto.choice(SIZE), Some(before));
        // The payload changes shape: postcard now costs 3× as much, JSON with zstd is best.
        let changed = [(before.0, before.1, 3.0, 1.0), (after.0, after.1, 1.2, 0.2)];
        let picks = run(&auto, 1_000, &table(&changed));
        assert_eq!(auto.choice(SIZE), Some(after));
        // Switched within the thousand calls, and stayed, but for exploration: the re-survey
        // after the drift (each of the 11 other arms once, each after a warm-up call) and the
        // steady share.
        let first = picks.iter().position(|p| *p == after).unwrap();
        let tail = &picks[first..];
        let elsewhere = tail.iter().filter(|p| **p != after).count();
        assert!(
            elsewhere <= 2 * 11 + 2 * (tail.len() / 128 + 1),
            "{elsewhere} of {} calls elsewhere after the switch",
            tail.len()
        );
        eprintln!("switched to {after:?} after {first} calls");
        assert!(auto.switches(SIZE) >= 2);
    }

    #[test]
    fn follows_the_network_price_at_once() {
        let auto = chooser(0.8);
        // Uncompressed: cheap CPU, many bytes; zstd: more CPU, a fifth of the bytes.
        let plain = (CodecKind::Proto, Compression::Identity);
        let zstd = (CodecKind::Proto, Compression::Zstd);
        let costs = [(plain.0, plain.1, 1.0, 1.0), (zstd.0, zstd.1, 3.0, 0.2)];
        run(&auto, 1_000, &table(&costs));
        // 1.0 + 1.0 × 0.8 = 1.8 against 3.0 + 0.2 × 0.8 = 3.16.
        assert_eq!(auto.choice(SIZE), Some(plain));
        // A priced 1 Gbit/s link: 1 + 8 = 9 against 3 + 1.6 = 4.6.
        auto.price().set(NetworkPrice::CROSS_ZONE);
        let picks = run(&auto, 2, &table(&costs));
        assert_eq!(picks[0], zstd, "the first call after the change");
        assert_eq!(auto.choice(SIZE), Some(zstd));
        auto.price().set(NetworkPrice::LOOPBACK);
        run(&auto, 1, &table(&costs));
        assert_eq!(auto.choice(SIZE), Some(plain));
    }

    #[test]
    fn small_messages_never_weigh_compression_and_peers_limit_the_pairs() {
        let auto = chooser(NetworkPrice::CROSS_REGION);
        for _ in 0..200 {
            let pick = auto.choose(100, CodecSet::ALL, CompressionSet::ALL);
            assert_eq!(pick.compression, Compression::Identity, "{pick:?}");
        }
        // A gRPC peer that reads protobuf and gzip only.
        let peer = CompressionSet::IDENTITY.with(Compression::Gzip);
        for _ in 0..200 {
            let pick = auto.choose(SIZE, CodecSet::only(CodecKind::Proto), peer);
            assert_eq!(pick.codec, CodecKind::Proto);
            assert_ne!(pick.compression, Compression::Zstd);
        }
    }
}

#[test]
fn auto_compresses_text_when_bytes_are_dear() {
    // A real selector (real timings): 64 KiB of repetitive text over a cross-region link
    // must travel compressed, and come out the same.
    let s = CodecSelector::new(CodecPolicy::Auto(
        AutoConfig::default().network_ns_per_byte(arpc::codec::NetworkPrice::CROSS_REGION),
    ));
    let mut msg = blob_of(0);
    msg.text = "the quick brown fox jumps over the lazy dog; ".repeat(1500);
    let mut last = None;
    for _ in 0..100 {
        let mut buf = BytesMut::new();
        let sent = s
            .encode_with(
                &msg,
                CodecSet::ALL,
                arpc::codec::CompressionSet::ALL,
                &mut buf,
            )
            .unwrap();
        assert!(sent.size >= buf.len());
        last = Some((sent, buf.len()));
    }
    let (sent, wire) = last.unwrap();
    assert_ne!(sent.compression, arpc::codec::Compression::Identity);
    assert!(wire * 10 < sent.size, "{wire} of {}", sent.size);
}
