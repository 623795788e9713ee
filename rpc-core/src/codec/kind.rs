//! [`CodecKind`] (which codec) and [`CodecSet`] (which codecs a peer accepts).

use std::fmt;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};

use super::{Codec, DecodeError, EncodeError, Json, MsgPack, Postcard, Proto};
use crate::Message;

/// The codecs arpc speaks, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum CodecKind {
    /// Protobuf wire format.
    Proto = 0,
    /// JSON (serde_json).
    Json = 1,
    /// MessagePack in map mode (rmp-serde).
    MsgPack = 2,
    /// postcard 1.x.
    Postcard = 3,
}

impl CodecKind {
    /// Every codec, in the order of their numbers.
    pub const ALL: [CodecKind; 4] = [Self::Proto, Self::Json, Self::MsgPack, Self::Postcard];

    /// The short name: `proto`, `json`, `msgpack`, `postcard`; also the gRPC content-subtype.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Proto => "proto",
            Self::Json => "json",
            Self::MsgPack => "msgpack",
            Self::Postcard => "postcard",
        }
    }

    /// The content-type this codec is sent with: `application/grpc+{name}`.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Proto => "application/grpc+proto",
            Self::Json => "application/grpc+json",
            Self::MsgPack => "application/grpc+msgpack",
            Self::Postcard => "application/grpc+postcard",
        }
    }

    /// Reads a gRPC content-type. Plain `application/grpc` means protobuf, as the gRPC
    /// specification says; parameters after `;` are ignored; subtypes are case-insensitive.
    /// Returns `None` for anything that is not gRPC or names a codec arpc does not have.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        let rest = strip_prefix_ignore_case(essence, "application/grpc")?;
        if rest.is_empty() {
            return Some(Self::Proto);
        }
        rest.strip_prefix('+')?.parse().ok()
    }

    /// Appends `msg` in this codec to `dst`.
    #[inline]
    pub fn encode<T: Message>(self, msg: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Proto => Proto::encode(msg, dst),
            Self::Json => Json::encode(msg, dst),
            Self::MsgPack => MsgPack::encode(msg, dst),
            Self::Postcard => Postcard::encode(msg, dst),
        }
    }

    /// Decodes one message in this codec.
    #[inline]
    pub fn decode<T: Message>(self, src: Bytes) -> Result<T, DecodeError> {
        match self {
            Self::Proto => Proto::decode(src),
            Self::Json => Json::decode(src),
            Self::MsgPack => MsgPack::decode(src),
            Self::Postcard => Postcard::decode(src),
        }
    }

    /// Whether a reader built from an older schema still reads a message that gained a field.
    /// True for protobuf, JSON and MessagePack (map mode); false for postcard, whose wire
    /// format is positional.
    pub const fn tolerates_added_fields(self) -> bool {
        !matches!(self, Self::Postcard)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A codec name that arpc does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec `{name}`; arpc supports proto, json, msgpack and postcard")]
pub struct UnknownCodec {
    name: String,
}

impl FromStr for CodecKind {
    type Err = UnknownCodec;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCodec { name: s.to_owned() })
    }
}

/// A set of codecs, such as those a peer accepts. Copy, one byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CodecSet(u8);

impl CodecSet {
    /// No codec.
    pub const EMPTY: CodecSet = CodecSet(0);
    /// Every codec.
    pub const ALL: CodecSet = CodecSet(0b1111);

    /// A set of one codec.
    pub fn only(codec: CodecKind) -> Self {
        Self(codec.bit())
    }

    /// This set with `codec` added.
    #[must_use]
    pub fn with(self, codec: CodecKind) -> Self {
        Self(self.0 | codec.bit())
    }

    /// Whether `codec` is in the set.
    pub fn contains(self, codec: CodecKind) -> bool {
        self.0 & codec.bit() != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The codecs in the set, in [`CodecKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = CodecKind> {
        CodecKind::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }

    /// The codecs in both sets.
    #[must_use]
    pub fn intersect(self, other: CodecSet) -> Self {
        Self(self.0 & other.0)
    }
}

impl FromIterator<CodecKind> for CodecSet {
    fn from_iter<I: IntoIterator<Item = CodecKind>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl fmt::Debug for CodecSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_map_to_codecs() {
        assert_eq!(
            CodecKind::from_content_type("application/grpc"),
            Some(CodecKind::Proto)
        );
        assert_eq!(
            CodecKind::from_content_type("application/grpc+proto"),
            Some(CodecKind::Proto)
        );
        assert_eq!(
            CodecKind::from_content_type("Application/GRPC+JSON; charset=utf-8"),
            Some(CodecKind::Json)
        );
        assert_eq!(
            CodecKind::from_content_type("application/grpc+msgpack"),
            Some(CodecKind::MsgPack)
        );
        assert_eq!(
            CodecKind::from_content_type("application/grpc+postcard"),
            Some(CodecKind::Postcard)
        );
        assert_eq!(
            CodecKind::from_content_type("application/grpc+thrift"),
            None
        );
        assert_eq!(CodecKind::from_content_type("application/grpcx"), None);
        assert_eq!(CodecKind::from_content_type("application/json"), None);
        assert_eq!(CodecKind::from_content_type(""), None);
        for c in CodecKind::ALL {
            assert_eq!(CodecKind::from_content_type(c.content_type()), Some(c));
        }
    }

    #[test]
    fn sets_hold_what_was_put_in() {
        let s: CodecSet = [CodecKind::Json, CodecKind::Postcard].into_iter().collect();
        assert!(s.contains(CodecKind::Json) && s.contains(CodecKind::Postcard));
        assert!(!s.contains(CodecKind::Proto));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [CodecKind::Json, CodecKind::Postcard]
        );
        assert_eq!(
            s.intersect(CodecSet::only(CodecKind::Json)),
            CodecSet::only(CodecKind::Json)
        );
        assert!(CodecSet::EMPTY.is_empty());
        assert_eq!(CodecSet::ALL.iter().count(), 4);
    }

    #[test]
    fn names_parse_back() {
        for c in CodecKind::ALL {
            assert_eq!(c.name().parse::<CodecKind>().unwrap(), c);
        }
        let err = "bincode".parse::<CodecKind>().unwrap_err();
        assert!(
            err.to_string()
                .contains("proto, json, msgpack and postcard")
        );
    }
}
