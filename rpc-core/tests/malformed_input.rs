//! Decoders are total: random, truncated and corrupted input gives a `DecodeError` naming the
//! codec and type, never a panic and never the original message.

mod support;

use arpc::codec::{CodecKind, DecodeCause};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use support::*;

fn encode(codec: CodecKind, msg: &Containers) -> Bytes {
    let mut buf = BytesMut::new();
    codec.encode(msg, &mut buf).unwrap();
    buf.freeze()
}

/// Whether `prefix` is a whole number of top-level protobuf fields.
fn on_field_boundary(mut prefix: &[u8]) -> bool {
    use prost::encoding::{DecodeContext, decode_key, skip_field};
    while !prefix.is_empty() {
        let Ok((tag, wire_type)) = decode_key(&mut prefix) else {
            return false;
        };
        if skip_field(wire_type, tag, &mut prefix, DecodeContext::default()).is_err() {
            return false;
        }
    }
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for codec in CodecKind::ALL {
            if let Err(e) = codec.decode::<Containers>(Bytes::from(bytes.clone())) {
                prop_assert_eq!(e.codec(), codec);
                prop_assert!(e.type_name().ends_with("Containers"));
            }
            let _ = codec.decode::<Benefit>(Bytes::from(bytes.clone()));
        }
    }

    #[test]
    fn truncated_messages_are_refused_unless_cut_between_protobuf_fields(msg in containers(), cut in any::<prop::sample::Index>()) {
        for codec in CodecKind::ALL {
            let full = encode(codec, &msg);
            let at = cut.index(full.len());
            let result = codec.decode::<Containers>(full.slice(..at));
            match codec {
                // Protobuf has no end marker: a cut on a field boundary is a valid, shorter
                // message (gRPC framing carries the length that catches truncation), and when
                // the fields cut off held defaults it even equals the original. A cut inside a
                // field must fail.
                CodecKind::Proto => prop_assert!(
                    result.is_err() || on_field_boundary(&full[..at]),
                    "proto accepted a cut inside a field at {} of {} bytes", at, full.len()
                ),
                // The self-delimiting formats must notice.
                _ => prop_assert!(result.is_err(), "{} accepted {} of {} bytes", codec, at, full.len()),
            }
        }
    }

    #[test]
    fn flipped_bytes_never_panic(msg in containers(), at in any::<prop::sample::Index>(), xor in 1u8..) {
        for codec in CodecKind::ALL {
            let mut bytes = encode(codec, &msg).to_vec();
            if bytes.is_empty() { continue; }
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
            let _ = codec.decode::<Containers>(Bytes::from(bytes));
        }
    }
}

#[test]
fn trailing_bytes_are_reported() {
    let msg = <Scalars as arpc::proto::ProtoElem>::empty();
    for codec in [CodecKind::Json, CodecKind::MsgPack, CodecKind::Postcard] {
        let mut buf = BytesMut::new();
        codec.encode(&msg, &mut buf).unwrap();
        let len = buf.len();
        buf.extend_from_slice(b"xyz");
        let err = codec.decode::<Scalars>(buf.freeze()).unwrap_err();
        if codec != CodecKind::Json {
            assert!(
                matches!(err.cause(), DecodeCause::TrailingBytes(3)),
                "{codec}: {err}"
            );
            assert_eq!(err.offset(), Some(len as u64), "{codec}");
        }
        assert!(err.to_string().contains(codec.name()), "{err}");
    }
}

#[test]
fn errors_say_codec_type_and_offset() {
    let err = CodecKind::Json
        .decode::<Scalars>(Bytes::from_static(b"{\"flag\": 12}"))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("cannot decode `"), "{text}");
    assert!(text.contains("Scalars` from json at byte"), "{text}");
    assert_eq!(err.codec(), CodecKind::Json);

    let err = CodecKind::Proto
        .decode::<Scalars>(Bytes::from_static(&[0x0a, 0x05, 0x01]))
        .unwrap_err();
    assert_eq!(err.codec(), CodecKind::Proto);
    assert!(err.offset().is_some());
    assert!(err.to_string().contains("from proto"), "{err}");
}

#[test]
fn deep_nesting_hits_limits_not_the_stack() {
    // A self-referencing message nested far deeper than any limit.
    #[arpc::message]
    #[derive(Debug, Clone, PartialEq)]
    struct Node {
        children: Vec<Node>,
    }
    let depth = 100_000;
    // protobuf: field 1, length-delimited, nested; build inside out.
    let mut proto = Vec::new();
    for _ in 0..depth {
        let mut outer = vec![0x0a];
        let mut len = proto.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                outer.push(byte);
                break;
            }
            outer.push(byte | 0x80);
        }
        outer.extend_from_slice(&proto);
        proto = outer;
    }
    assert!(CodecKind::Proto.decode::<Node>(Bytes::from(proto)).is_err());
    let json = format!("{}{}", "{\"children\":[".repeat(depth), "]}".repeat(depth));
    assert!(CodecKind::Json.decode::<Node>(Bytes::from(json)).is_err());
    // MessagePack: fixmap(1) "children" array(1) ... repeated.
    let mut mp = Vec::new();
    for _ in 0..depth {
        mp.push(0x81);
        mp.push(0xa8);
        mp.extend_from_slice(b"children");
        mp.push(0x91);
    }
    assert!(CodecKind::MsgPack.decode::<Node>(Bytes::from(mp)).is_err());
    // postcard: a one-element sequence per level.
    let pc = vec![1u8; depth];
    assert!(CodecKind::Postcard.decode::<Node>(Bytes::from(pc)).is_err());
    // Within the limits, nesting works in every codec.
    let mut node = Node { children: vec![] };
    for _ in 0..50 {
        node = Node {
            children: vec![node],
        };
    }
    for codec in CodecKind::ALL {
        let mut buf = BytesMut::new();
        codec.encode(&node, &mut buf).unwrap();
        assert_eq!(codec.decode::<Node>(buf.freeze()).unwrap(), node, "{codec}");
    }
}
