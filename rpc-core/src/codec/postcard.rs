//! The postcard codec.

use bytes::{BufMut, Bytes, BytesMut};

use super::depth;
use super::{Codec, CodecKind, DecodeCause, DecodeError, EncodeError};
use crate::Message;

/// How deep a message may nest. postcard has no limit of its own, and a recursive type costs
/// a byte per level; 128 is serde_json's limit (prost's is 100).
const MAX_DEPTH: u32 = 128;

/// postcard 1.x: a stable, documented, compact binary format (varint integers, no field
/// names or numbers).
///
/// Positional: both peers must share the exact schema. Adding a field breaks old readers, so
/// the schema checker warns when a method that allows postcard changes a message's shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

impl Codec for Postcard {
    const KIND: CodecKind = CodecKind::Postcard;

    #[inline]
    fn encode<T: Message>(msg: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        // Bytes go straight into the destination buffer, a slice at a time.
        postcard::serialize_with_flavor(msg, BytesMutFlavor(dst))
            .map_err(|e| EncodeError::new::<T>(Self::KIND, e))
    }

    #[inline]
    fn decode<T: Message>(src: Bytes) -> Result<T, DecodeError> {
        let mut de = postcard::Deserializer::from_bytes(&src);
        let result = depth::deserialize::<T, _>(&mut de, MAX_DEPTH).and_then(|msg| {
            let rest = de.finalize()?;
            Ok((msg, rest))
        });
        match result {
            Ok((msg, [])) => Ok(msg),
            Ok((_, rest)) => Err(DecodeError::new::<T>(
                Self::KIND,
                Some((src.len() - rest.len()) as u64),
                DecodeCause::TrailingBytes(rest.len()),
            )),
            Err(e) => Err(DecodeError::new::<T>(
                Self::KIND,
                None,
                DecodeCause::Postcard(e),
            )),
        }
    }
}

/// A postcard output flavor that appends to a borrowed `BytesMut` with `extend_from_slice`
/// (postcard's own `ExtendFlavor` pushes byte by byte).
struct BytesMutFlavor<'a>(&'a mut BytesMut);

impl postcard::ser_flavors::Flavor for BytesMutFlavor<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.put_u8(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}
