//! Every codec round-trips every supported field type.

mod support;

use arpc::Message;
use arpc::codec::{CodecKind, CodecPolicy, CodecSelector, CodecSet};
use bytes::BytesMut;
use proptest::prelude::*;
use support::*;

fn roundtrip<T: Message + PartialEq + std::fmt::Debug>(msg: &T) -> Result<(), TestCaseError> {
    for codec in CodecKind::ALL {
        let mut buf = BytesMut::new();
        codec
            .encode(msg, &mut buf)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: T = codec
            .decode(buf.freeze())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, msg, "codec {}", codec);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn scalars_roundtrip(msg in scalars()) {
        roundtrip(&msg)?;
    }

    #[test]
    fn containers_roundtrip(msg in containers()) {
        roundtrip(&msg)?;
    }

    #[test]
    fn oneof_roundtrips_as_top_level_message(msg in benefit()) {
        roundtrip(&msg)?;
    }

    #[test]
    fn selector_output_decodes_in_the_codec_it_reports(
        msg in containers(),
        accepted in 1u8..16,
        threshold in 0usize..2048,
    ) {
        let accepted: CodecSet = CodecKind::ALL
            .into_iter()
            .filter(|c| accepted & (1 << *c as u8) != 0)
            .collect();
        let policies = [
            CodecPolicy::Fixed(CodecKind::MsgPack),
            CodecPolicy::BySize { small: CodecKind::Postcard, large: CodecKind::Json, threshold_bytes: threshold },
            CodecPolicy::auto(),
        ];
        for policy in policies {
            let selector = CodecSelector::new(policy);
            for _ in 0..3 {
                let mut buf = BytesMut::new();
                let codec = selector.encode(&msg, accepted, &mut buf).unwrap();
                prop_assert!(accepted.contains(codec), "{codec} not in {accepted:?}");
                let back: Containers = codec.decode(buf.freeze()).unwrap();
                prop_assert_eq!(&back, &msg);
            }
        }
    }
}

#[test]
fn extreme_values_roundtrip() {
    let msg = Scalars {
        flag: true,
        i8v: i8::MIN,
        i16v: i16::MIN,
        i32v: i32::MIN,
        i64v: i64::MIN,
        isizev: isize::MAX,
        u8v: u8::MAX,
        u16v: u16::MAX,
        u32v: u32::MAX,
        u64v: u64::MAX,
        usizev: usize::MAX,
        f32v: f32::MAX,
        f64v: f64::MIN_POSITIVE,
        text: "tab\tnewline\n\u{1F600} ünïcödé".into(),
        blob: vec![0, 255, 128],
        shared: bytes::Bytes::from_static(&[1, 2, 3]),
    };
    roundtrip(&msg).unwrap();
}

#[test]
fn non_finite_floats_roundtrip_in_binary_codecs() {
    let mut msg = scalars_default();
    msg.f32v = f32::INFINITY;
    msg.f64v = f64::NEG_INFINITY;
    for codec in [CodecKind::Proto, CodecKind::MsgPack, CodecKind::Postcard] {
        let mut buf = BytesMut::new();
        codec.encode(&msg, &mut buf).unwrap();
        let back: Scalars = codec.decode(buf.freeze()).unwrap();
        assert_eq!(back, msg, "{codec}");
    }
}

fn scalars_default() -> Scalars {
    <Scalars as arpc::proto::ProtoElem>::empty()
}
