//! The protobuf codec.

use bytes::{Buf, Bytes, BytesMut};

use super::{Codec, CodecKind, DecodeCause, DecodeError, EncodeError};
use crate::Message;

/// Protobuf wire format, through the type's `prost::Message` implementation.
///
/// Encoding computes the exact length first and reserves it once. Decoding reads from the
/// [`Bytes`] it is given, so `bytes::Bytes` fields share the input instead of copying it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proto;

impl Codec for Proto {
    const KIND: CodecKind = CodecKind::Proto;

    #[inline]
    fn encode<T: Message>(msg: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        dst.reserve(msg.encoded_len());
        msg.encode_raw(dst);
        Ok(())
    }

    #[inline]
    fn decode<T: Message>(mut src: Bytes) -> Result<T, DecodeError> {
        let total = src.len();
        let mut msg = T::empty();
        msg.merge(&mut src).map_err(|e| {
            let offset = (total - src.remaining()) as u64;
            DecodeError::new::<T>(CodecKind::Proto, Some(offset), DecodeCause::Proto(e))
        })?;
        Ok(msg)
    }
}
