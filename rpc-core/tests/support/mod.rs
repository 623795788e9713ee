//! Message types covering every supported field type, and proptest strategies for them.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use proptest::prelude::*;

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Scalars {
    pub flag: bool,
    pub i8v: i8,
    pub i16v: i16,
    pub i32v: i32,
    pub i64v: i64,
    pub isizev: isize,
    pub u8v: u8,
    pub u16v: u16,
    pub u32v: u32,
    pub u64v: u64,
    pub usizev: usize,
    pub f32v: f32,
    pub f64v: f64,
    pub text: String,
    pub blob: Vec<u8>,
    pub shared: Bytes,
}

#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Unknown,
    Silver,
    Gold = 5,
    Negative = -3,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub enum Benefit {
    None,
    Discount(u32),
    Coupon(String),
    Nested(Scalars),
    Level(Tier),
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Containers {
    pub maybe_i32: Option<i32>,
    pub maybe_text: Option<String>,
    pub maybe_msg: Option<Scalars>,
    pub maybe_tier: Option<Tier>,
    pub numbers: Vec<i64>,
    pub small: Vec<u16>,
    pub floats: Vec<f64>,
    pub flags: Vec<bool>,
    pub texts: Vec<String>,
    pub blobs: Vec<Vec<u8>>,
    pub tiers: Vec<Tier>,
    pub nested: Vec<Scalars>,
    pub by_name: HashMap<String, i32>,
    pub by_id: BTreeMap<u64, Scalars>,
    pub by_flag: BTreeMap<bool, String>,
    pub by_small: HashMap<i8, Tier>,
    #[arpc(tag = 40)]
    pub tier: Tier,
    pub benefit: Benefit,
    pub benefits: Vec<Benefit>,
    pub maybe_benefit: Option<Benefit>,
}

/// Floats that survive every codec: JSON cannot carry NaN or infinities.
pub fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(0.0f32),
        Just(-0.0f32),
        Just(f32::MIN_POSITIVE),
        any::<f32>().prop_filter("finite", |f| f.is_finite())
    ]
}

pub fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0f64),
        Just(-0.0f64),
        Just(f64::MAX),
        any::<f64>().prop_filter("finite", |f| f.is_finite())
    ]
}

prop_compose! {
    pub fn scalars()(
        flag in any::<bool>(),
        i8v in any::<i8>(), i16v in any::<i16>(), i32v in any::<i32>(), i64v in any::<i64>(),
        isizev in any::<isize>(),
        u8v in any::<u8>(), u16v in any::<u16>(), u32v in any::<u32>(), u64v in any::<u64>(),
        usizev in any::<usize>(),
        f32v in finite_f32(), f64v in finite_f64(),
        text in ".{0,24}",
        blob in proptest::collection::vec(any::<u8>(), 0..32),
        shared in proptest::collection::vec(any::<u8>(), 0..32),
    ) -> Scalars {
        Scalars {
            flag, i8v, i16v, i32v, i64v, isizev, u8v, u16v, u32v, u64v, usizev, f32v, f64v, text,
            blob, shared: Bytes::from(shared),
        }
    }
}

pub fn tier() -> impl Strategy<Value = Tier> {
    prop_oneof![
        Just(Tier::Unknown),
        Just(Tier::Silver),
        Just(Tier::Gold),
        Just(Tier::Negative)
    ]
}

pub fn benefit() -> impl Strategy<Value = Benefit> {
    prop_oneof![
        Just(Benefit::None),
        any::<u32>().prop_map(Benefit::Discount),
        ".{0,12}".prop_map(Benefit::Coupon),
        scalars().prop_map(Benefit::Nested),
        tier().prop_map(Benefit::Level),
    ]
}

prop_compose! {
    fn containers_a()(
        maybe_i32 in any::<Option<i32>>(),
        maybe_text in proptest::option::of(".{0,8}"),
        maybe_msg in proptest::option::of(scalars()),
        maybe_tier in proptest::option::of(tier()),
        numbers in proptest::collection::vec(any::<i64>(), 0..8),
        small in proptest::collection::vec(any::<u16>(), 0..8),
        floats in proptest::collection::vec(finite_f64(), 0..8),
        flags in proptest::collection::vec(any::<bool>(), 0..8),
        texts in proptest::collection::vec(".{0,8}", 0..4),
        blobs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 0..4),
    ) -> (Option<i32>, Option<String>, Option<Scalars>, Option<Tier>, Vec<i64>, Vec<u16>, Vec<f64>, Vec<bool>, Vec<String>, Vec<Vec<u8>>) {
        (maybe_i32, maybe_text, maybe_msg, maybe_tier, numbers, small, floats, flags, texts, blobs)
    }
}

prop_compose! {
    pub fn containers()(
        a in containers_a(),
        tiers in proptest::collection::vec(tier(), 0..6),
        nested in proptest::collection::vec(scalars(), 0..3),
        by_name in proptest::collection::hash_map(".{0,6}", any::<i32>(), 0..4),
        by_id in proptest::collection::btree_map(any::<u64>(), scalars(), 0..3),
        by_flag in proptest::collection::btree_map(any::<bool>(), ".{0,6}", 0..2),
        by_small in proptest::collection::hash_map(any::<i8>(), tier(), 0..4),
        tier in tier(),
        benefit in benefit(),
        benefits in proptest::collection::vec(benefit(), 0..4),
        maybe_benefit in proptest::option::of(benefit()),
    ) -> Containers {
        let (maybe_i32, maybe_text, maybe_msg, maybe_tier, numbers, small, floats, flags, texts, blobs) = a;
        Containers {
            maybe_i32, maybe_text, maybe_msg, maybe_tier, numbers, small, floats, flags, texts,
            blobs, tiers, nested, by_name, by_id, by_flag, by_small, tier, benefit, benefits,
            maybe_benefit,
        }
    }
}
