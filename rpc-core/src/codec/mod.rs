//! Codecs: turning one message into bytes and back.
//!
//! Each codec is a unit type implementing the narrow [`Codec`] trait; [`CodecKind`] names them
//! at run time and maps them to gRPC content-subtypes. Framing, compression and transport are
//! not the codec's business.
//!
//! | codec | content-type | good for |
//! |---|---|---|
//! | [`Proto`] | `application/grpc`, `application/grpc+proto` | any gRPC peer; compact; schema evolution |
//! | [`Json`] | `application/grpc+json` | humans, browsers, debugging |
//! | [`MsgPack`] | `application/grpc+msgpack` | compact self-describing data; map mode tolerates added fields |
//! | [`Postcard`] | `application/grpc+postcard` | the smallest and fastest, for peers sharing the exact schema |
//!
//! Which codec a method uses is a [`CodecPolicy`]; [`CodecSelector`] applies it per message.

mod auto;
mod depth;
mod error;
mod json;
mod kind;
mod msgpack;
mod policy;
mod postcard;
mod proto;
mod select;

pub use self::auto::{ArmCost, AutoChooser, NetworkPrice, Pick, Sample};
pub use self::error::{DecodeCause, DecodeError, EncodeError};
pub use self::json::Json;
pub use self::kind::{CodecKind, CodecSet, UnknownCodec};
pub use self::msgpack::MsgPack;
pub use self::policy::{AutoConfig, CodecPolicy};
pub use self::postcard::Postcard;
pub use self::proto::Proto;
pub(crate) use self::select::compress_tail;
pub use self::select::{CodecSelector, DEFAULT_COMPRESS_MIN_BYTES, Encoded, SIZE_BUCKETS};
pub use crate::wire::compress::{Compression, CompressionSet};

use bytes::{Bytes, BytesMut};

use crate::Message;

/// One wire format: how a message becomes bytes and back.
///
/// Implementations are stateless unit types; [`CodecKind::encode`] and
/// [`CodecKind::decode`] dispatch to them without dynamic calls.
pub trait Codec {
    /// Which codec this is (its name and content-subtype).
    const KIND: CodecKind;

    /// Appends the encoding of `msg` to `dst`.
    ///
    /// `dst` should have room reserved by the caller when the size is known; codecs that can
    /// compute their exact size reserve it themselves, once.
    fn encode<T: Message>(msg: &T, dst: &mut BytesMut) -> Result<(), EncodeError>;

    /// Decodes one whole message from `src`. Every byte must belong to the message.
    ///
    /// Takes [`Bytes`] so that formats able to borrow from the input (protobuf `bytes` fields
    /// into [`Bytes`]) need not copy it.
    fn decode<T: Message>(src: Bytes) -> Result<T, DecodeError>;
}
