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
    for _ in 0..3 * samples {
        *used.entry(choose(&s, &msg, accepted)).or_insert(0) += 1;
    }
    // Calibration: each accepted codec sent exactly `samples` times, MessagePack never.
    assert_eq!(used.get(&CodecKind::Proto), Some(&samples));
    assert_eq!(used.get(&CodecKind::Json), Some(&samples));
    assert_eq!(used.get(&CodecKind::Postcard), Some(&samples));
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
    for _ in 0..4 {
        let mut buf = BytesMut::new();
        last = s.encode(&msg, both, &mut buf).unwrap();
    }
    assert_eq!(last, CodecKind::Postcard);
}
