//! The JSON codec.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Codec, CodecKind, DecodeCause, DecodeError, EncodeError};
use crate::Message;

/// JSON through `serde_json`, with exact float round-trips (`float_roundtrip`).
///
/// Decoding parses the contiguous input with `from_slice` (never `from_reader`, which is an
/// order of magnitude slower). serde_json writes NaN and infinities as `null`, which does not
/// read back into a float: keep non-finite floats out of messages sent as JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Codec for Json {
    const KIND: CodecKind = CodecKind::Json;

    #[inline]
    fn encode<T: Message>(msg: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        serde_json::to_writer(dst.writer(), msg).map_err(|e| EncodeError::new::<T>(Self::KIND, e))
    }

    #[inline]
    fn decode<T: Message>(src: Bytes) -> Result<T, DecodeError> {
        serde_json::from_slice(&src).map_err(|e| {
            let offset = byte_offset(&src, e.line(), e.column());
            DecodeError::new::<T>(Self::KIND, offset, DecodeCause::Json(e))
        })
    }
}

/// serde_json reports 1-based line and column; turn them into a byte offset.
fn byte_offset(src: &[u8], line: usize, column: usize) -> Option<u64> {
    if line == 0 {
        return None;
    }
    let line_start = if line == 1 {
        0
    } else {
        src.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)?
    };
    Some((line_start + column.saturating_sub(1)) as u64)
}

#[cfg(test)]
mod tests {
    use super::byte_offset;

    #[test]
    fn offsets_count_lines() {
        assert_eq!(byte_offset(b"{\"a\":x}", 1, 6), Some(5));
        assert_eq!(byte_offset(b"{\n\"a\":\nx}", 3, 1), Some(7));
        assert_eq!(byte_offset(b"", 0, 0), None);
    }
}
