//! The MessagePack codec.

use std::io::Cursor;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Codec, CodecKind, DecodeCause, DecodeError, EncodeError};
use crate::Message;

/// How deep maps and arrays may nest. rmp-serde's own default (1024) overflows a 2 MiB thread
/// stack in debug builds; 128 is serde_json's limit, and prost's is 100.
const MAX_DEPTH: usize = 128;

/// MessagePack through `rmp-serde`, structs written as maps keyed by field name.
///
/// Map mode costs some bytes over array mode, and buys schema evolution: a reader that does
/// not know a field skips it, and a reader missing a field reports it by name.
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgPack;

impl Codec for MsgPack {
    const KIND: CodecKind = CodecKind::MsgPack;

    #[inline]
    fn encode<T: Message>(msg: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let mut ser = rmp_serde::Serializer::new(dst.writer()).with_struct_map();
        msg.serialize(&mut ser)
            .map_err(|e| EncodeError::new::<T>(Self::KIND, e))
    }

    #[inline]
    fn decode<T: Message>(src: Bytes) -> Result<T, DecodeError> {
        let mut de = rmp_serde::Deserializer::new(Cursor::new(&src[..]));
        de.set_max_depth(MAX_DEPTH);
        let result = T::deserialize(&mut de);
        let position = de.position();
        match result {
            Ok(msg) if position == src.len() as u64 => Ok(msg),
            Ok(_) => Err(DecodeError::new::<T>(
                Self::KIND,
                Some(position),
                DecodeCause::TrailingBytes(src.len().saturating_sub(read_len(position))),
            )),
            Err(e) => Err(DecodeError::new::<T>(
                Self::KIND,
                Some(position),
                DecodeCause::MsgPack(e),
            )),
        }
    }
}

/// The cursor's position as a length; it never passes the slice it reads, so it fits.
fn read_len(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}
