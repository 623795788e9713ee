//! Our protobuf bytes against prost's own derive, both ways: prost reads what we write, and we
//! read what prost writes, for every supported field type.

mod support;

use std::collections::{BTreeMap, HashMap};

use arpc::codec::CodecKind;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use prost::Message as _;
use support::*;

#[derive(Clone, PartialEq, prost::Message)]
struct PScalars {
    #[prost(bool, tag = "1")]
    flag: bool,
    #[prost(int32, tag = "2")]
    i8v: i32,
    #[prost(int32, tag = "3")]
    i16v: i32,
    #[prost(int32, tag = "4")]
    i32v: i32,
    #[prost(int64, tag = "5")]
    i64v: i64,
    #[prost(int64, tag = "6")]
    isizev: i64,
    #[prost(uint32, tag = "7")]
    u8v: u32,
    #[prost(uint32, tag = "8")]
    u16v: u32,
    #[prost(uint32, tag = "9")]
    u32v: u32,
    #[prost(uint64, tag = "10")]
    u64v: u64,
    #[prost(uint64, tag = "11")]
    usizev: u64,
    #[prost(float, tag = "12")]
    f32v: f32,
    #[prost(double, tag = "13")]
    f64v: f64,
    #[prost(string, tag = "14")]
    text: String,
    #[prost(bytes = "vec", tag = "15")]
    blob: Vec<u8>,
    #[prost(bytes = "bytes", tag = "16")]
    shared: Bytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
enum PTier {
    Unknown = 0,
    Silver = 1,
    Gold = 5,
    Negative = -3,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum PBenefitValue {
    #[prost(message, tag = "1")]
    None(()),
    #[prost(uint32, tag = "2")]
    Discount(u32),
    #[prost(string, tag = "3")]
    Coupon(String),
    #[prost(message, tag = "4")]
    Nested(PScalars),
    #[prost(enumeration = "PTier", tag = "5")]
    Level(i32),
}

#[derive(Clone, PartialEq, prost::Message)]
struct PBenefit {
    #[prost(oneof = "PBenefitValue", tags = "1, 2, 3, 4, 5")]
    value: Option<PBenefitValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PContainers {
    #[prost(int32, optional, tag = "1")]
    maybe_i32: Option<i32>,
    #[prost(string, optional, tag = "2")]
    maybe_text: Option<String>,
    #[prost(message, optional, tag = "3")]
    maybe_msg: Option<PScalars>,
    #[prost(enumeration = "PTier", optional, tag = "4")]
    maybe_tier: Option<i32>,
    #[prost(int64, repeated, tag = "5")]
    numbers: Vec<i64>,
    #[prost(uint32, repeated, tag = "6")]
    small: Vec<u32>,
    #[prost(double, repeated, tag = "7")]
    floats: Vec<f64>,
    #[prost(bool, repeated, tag = "8")]
    flags: Vec<bool>,
    #[prost(string, repeated, tag = "9")]
    texts: Vec<String>,
    #[prost(bytes = "vec", repeated, tag = "10")]
    blobs: Vec<Vec<u8>>,
    #[prost(enumeration = "PTier", repeated, tag = "11")]
    tiers: Vec<i32>,
    #[prost(message, repeated, tag = "12")]
    nested: Vec<PScalars>,
    #[prost(map = "string, int32", tag = "13")]
    by_name: HashMap<String, i32>,
    #[prost(btree_map = "uint64, message", tag = "14")]
    by_id: BTreeMap<u64, PScalars>,
    #[prost(btree_map = "bool, string", tag = "15")]
    by_flag: BTreeMap<bool, String>,
    #[prost(map = "int32, enumeration(PTier)", tag = "16")]
    by_small: HashMap<i32, i32>,
    #[prost(enumeration = "PTier", tag = "40")]
    tier: i32,
    #[prost(message, optional, tag = "41")]
    benefit: Option<PBenefit>,
    #[prost(message, repeated, tag = "42")]
    benefits: Vec<PBenefit>,
    #[prost(message, optional, tag = "43")]
    maybe_benefit: Option<PBenefit>,
}

fn p_scalars(s: &Scalars) -> PScalars {
    PScalars {
        flag: s.flag,
        i8v: s.i8v.into(),
        i16v: s.i16v.into(),
        i32v: s.i32v,
        i64v: s.i64v,
        isizev: s.isizev as i64,
        u8v: s.u8v.into(),
        u16v: s.u16v.into(),
        u32v: s.u32v,
        u64v: s.u64v,
        usizev: s.usizev as u64,
        f32v: s.f32v,
        f64v: s.f64v,
        text: s.text.clone(),
        blob: s.blob.clone(),
        shared: s.shared.clone(),
    }
}

fn p_tier(t: Tier) -> i32 {
    match t {
        Tier::Unknown => PTier::Unknown as i32,
        Tier::Silver => PTier::Silver as i32,
        Tier::Gold => PTier::Gold as i32,
        Tier::Negative => PTier::Negative as i32,
    }
}

fn p_benefit(b: &Benefit) -> PBenefit {
    let value = match b {
        Benefit::None => PBenefitValue::None(()),
        Benefit::Discount(d) => PBenefitValue::Discount(*d),
        Benefit::Coupon(c) => PBenefitValue::Coupon(c.clone()),
        Benefit::Nested(s) => PBenefitValue::Nested(p_scalars(s)),
        Benefit::Level(t) => PBenefitValue::Level(p_tier(*t)),
    };
    PBenefit { value: Some(value) }
}

fn p_containers(c: &Containers) -> PContainers {
    PContainers {
        maybe_i32: c.maybe_i32,
        maybe_text: c.maybe_text.clone(),
        maybe_msg: c.maybe_msg.as_ref().map(p_scalars),
        maybe_tier: c.maybe_tier.map(p_tier),
        numbers: c.numbers.clone(),
        small: c.small.iter().map(|v| u32::from(*v)).collect(),
        floats: c.floats.clone(),
        flags: c.flags.clone(),
        texts: c.texts.clone(),
        blobs: c.blobs.clone(),
        tiers: c.tiers.iter().map(|t| p_tier(*t)).collect(),
        nested: c.nested.iter().map(p_scalars).collect(),
        by_name: c.by_name.clone(),
        by_id: c.by_id.iter().map(|(k, v)| (*k, p_scalars(v))).collect(),
        by_flag: c.by_flag.clone(),
        by_small: c
            .by_small
            .iter()
            .map(|(k, v)| (i32::from(*k), p_tier(*v)))
            .collect(),
        tier: p_tier(c.tier),
        benefit: Some(p_benefit(&c.benefit)),
        benefits: c.benefits.iter().map(p_benefit).collect(),
        maybe_benefit: c.maybe_benefit.as_ref().map(p_benefit),
    }
}

fn ours<T: arpc::Message>(msg: &T) -> Bytes {
    let mut buf = BytesMut::new();
    CodecKind::Proto.encode(msg, &mut buf).unwrap();
    buf.freeze()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prost_reads_our_bytes(msg in containers()) {
        let decoded = PContainers::decode(ours(&msg)).unwrap();
        prop_assert_eq!(decoded, p_containers(&msg));
    }

    #[test]
    fn we_read_prost_bytes(msg in containers()) {
        let bytes = Bytes::from(p_containers(&msg).encode_to_vec());
        let decoded: Containers = CodecKind::Proto.decode(bytes).unwrap();
        prop_assert_eq!(decoded, msg);
    }

    #[test]
    fn sizes_agree_with_prost(msg in containers()) {
        // Same fields, same defaults skipped: the same length (map entry order may differ).
        // prost drops -0.0 as a default where we keep it, so compare after a pass through
        // prost, which turns -0.0 into 0.0.
        let p = PContainers::decode(ours(&msg)).unwrap();
        let normalized: Containers = CodecKind::Proto.decode(Bytes::from(p.encode_to_vec())).unwrap();
        prop_assert_eq!(ours(&normalized).len(), p.encoded_len());
    }
}

#[test]
fn prost_unpacked_repeated_fields_are_read() {
    // proto2-style peers write repeated scalars unpacked; proto3 readers must accept both.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Unpacked {
        #[prost(int64, repeated, packed = "false", tag = "5")]
        numbers: Vec<i64>,
    }
    let bytes = Bytes::from(
        Unpacked {
            numbers: vec![1, -2, 3],
        }
        .encode_to_vec(),
    );
    let decoded: Containers = CodecKind::Proto.decode(bytes).unwrap();
    assert_eq!(decoded.numbers, [1, -2, 3]);
}

#[test]
fn out_of_range_narrow_integers_are_errors_not_truncations() {
    let bytes = Bytes::from(
        PScalars {
            u8v: 300,
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let err = CodecKind::Proto.decode::<Scalars>(bytes).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("out of range for u8"), "{text}");
    assert!(text.contains("Scalars.u8v"), "{text}");
}

#[test]
fn unknown_enum_values_are_errors() {
    let bytes = Bytes::from(
        PContainers {
            tier: 9,
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let err = CodecKind::Proto.decode::<Containers>(bytes).unwrap_err();
    assert!(
        err.to_string().contains("unknown value 9 for enum Tier"),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_skipped() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Newer {
        #[prost(bool, tag = "1")]
        flag: bool,
        #[prost(string, tag = "999")]
        added: String,
    }
    let bytes = Bytes::from(
        Newer {
            flag: true,
            added: "later".into(),
        }
        .encode_to_vec(),
    );
    let decoded: Scalars = CodecKind::Proto.decode(bytes).unwrap();
    assert!(decoded.flag);
}

#[test]
fn negative_zero_survives() {
    // protobuf's C++ runtime writes -0.0 (it compares bit patterns); so do we.
    let mut msg = <Scalars as arpc::proto::ProtoElem>::empty();
    msg.f64v = -0.0;
    let back: Scalars = CodecKind::Proto.decode(ours(&msg)).unwrap();
    assert!(back.f64v.is_sign_negative());
}
