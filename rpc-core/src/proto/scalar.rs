//! [`ProtoElem`] for the scalar types.

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{decode_varint, encode_varint, encoded_len_varint};

use super::{DecodeContext, DecodeError, ProtoElem, WireType, check_wire_type, invalid};
use crate::schema::{ElemType, ScalarType};

/// Varint integers. Signed values are sign-extended to 64 bits, as protobuf's `int32` and
/// `int64` are; a decoded value that does not fit the Rust type is an error.
macro_rules! varint_int {
    ($($ty:ty => $scalar:ident, $to_u64:expr, $from_u64:expr;)*) => {$(
        impl ProtoElem for $ty {
            const WIRE_TYPE: WireType = WireType::Varint;
            const TYPE: ElemType = ElemType::Scalar(ScalarType::$scalar);
            const PACKED: bool = true;

            #[inline]
            fn empty() -> Self {
                0
            }
            #[inline]
            fn is_default(&self) -> bool {
                *self == 0
            }
            #[inline]
            fn encode_value(&self, buf: &mut impl BufMut) {
                encode_varint(($to_u64)(*self), buf);
            }
            #[inline]
            fn value_len(&self) -> usize {
                encoded_len_varint(($to_u64)(*self))
            }
            #[inline]
            fn merge_value(
                &mut self,
                wire_type: WireType,
                buf: &mut impl Buf,
                _ctx: DecodeContext,
            ) -> Result<(), DecodeError> {
                check_wire_type(WireType::Varint, wire_type)?;
                let raw = decode_varint(buf)?;
                *self = ($from_u64)(raw).ok_or_else(|| {
                    invalid(format!(
                        "varint {raw} is out of range for {}",
                        stringify!($ty)
                    ))
                })?;
                Ok(())
            }
        }
    )*};
}

#[allow(clippy::cast_sign_loss, clippy::cast_possible_wrap)]
fn signed(v: i64) -> u64 {
    v as u64
}
#[allow(clippy::cast_possible_wrap)]
fn unsigned_to_signed(raw: u64) -> i64 {
    raw as i64
}

varint_int! {
    i8 => Int32, |v: i8| signed(i64::from(v)), |r| i8::try_from(unsigned_to_signed(r)).ok();
    i16 => Int32, |v: i16| signed(i64::from(v)), |r| i16::try_from(unsigned_to_signed(r)).ok();
    i32 => Int32, |v: i32| signed(i64::from(v)), |r| i32::try_from(unsigned_to_signed(r)).ok();
    i64 => Int64, signed, |r| Some(unsigned_to_signed(r));
    isize => Int64, |v: isize| signed(v as i64), |r| isize::try_from(unsigned_to_signed(r)).ok();
    u8 => Uint32, u64::from, |r| u8::try_from(r).ok();
    u16 => Uint32, u64::from, |r| u16::try_from(r).ok();
    u32 => Uint32, u64::from, |r| u32::try_from(r).ok();
    u64 => Uint64, |v: u64| v, Some;
    usize => Uint64, |v: usize| v as u64, |r| usize::try_from(r).ok();
}

impl ProtoElem for bool {
    const WIRE_TYPE: WireType = WireType::Varint;
    const TYPE: ElemType = ElemType::Scalar(ScalarType::Bool);
    const PACKED: bool = true;

    fn empty() -> Self {
        false
    }
    fn is_default(&self) -> bool {
        !*self
    }
    fn encode_value(&self, buf: &mut impl BufMut) {
        buf.put_u8(u8::from(*self));
    }
    fn value_len(&self) -> usize {
        1
    }
    fn merge_value(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        _ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        check_wire_type(WireType::Varint, wire_type)?;
        // Protobuf reads any non-zero varint as true.
        *self = decode_varint(buf)? != 0;
        Ok(())
    }
}

macro_rules! fixed_float {
    ($($ty:ty => $scalar:ident, $wire:ident, $width:expr, $put:ident, $get:ident;)*) => {$(
        impl ProtoElem for $ty {
            const WIRE_TYPE: WireType = WireType::$wire;
            const TYPE: ElemType = ElemType::Scalar(ScalarType::$scalar);
            const PACKED: bool = true;

            #[inline]
            fn empty() -> Self {
                0.0
            }
            #[inline]
            fn is_default(&self) -> bool {
                // -0.0 is written: it is not the default's bit pattern.
                self.to_bits() == 0
            }
            #[inline]
            fn encode_value(&self, buf: &mut impl BufMut) {
                buf.$put(*self);
            }
            #[inline]
            fn value_len(&self) -> usize {
                $width
            }
            #[inline]
            fn merge_value(
                &mut self,
                wire_type: WireType,
                buf: &mut impl Buf,
                _ctx: DecodeContext,
            ) -> Result<(), DecodeError> {
                check_wire_type(WireType::$wire, wire_type)?;
                if buf.remaining() < $width {
                    return Err(invalid(format!(
                        "buffer underflow: {} needs {} bytes, {} left",
                        stringify!($ty),
                        $width,
                        buf.remaining()
                    )));
                }
                *self = buf.$get();
                Ok(())
            }
        }
    )*};
}

fixed_float! {
    f32 => Float, ThirtyTwoBit, 4, put_f32_le, get_f32_le;
    f64 => Double, SixtyFourBit, 8, put_f64_le, get_f64_le;
}

impl ProtoElem for String {
    const WIRE_TYPE: WireType = WireType::LengthDelimited;
    const TYPE: ElemType = ElemType::Scalar(ScalarType::String);

    fn empty() -> Self {
        String::new()
    }
    fn is_default(&self) -> bool {
        self.is_empty()
    }
    fn encode_value(&self, buf: &mut impl BufMut) {
        encode_varint(self.len() as u64, buf);
        buf.put_slice(self.as_bytes());
    }
    fn value_len(&self) -> usize {
        encoded_len_varint(self.len() as u64) + self.len()
    }
    fn merge_value(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        prost::encoding::string::merge(wire_type, self, buf, ctx)
    }
}

macro_rules! bytes_like {
    ($($ty:ty => $empty:expr;)*) => {$(
        impl ProtoElem for $ty {
            const WIRE_TYPE: WireType = WireType::LengthDelimited;
            const TYPE: ElemType = ElemType::Scalar(ScalarType::Bytes);

            fn empty() -> Self {
                $empty
            }
            fn is_default(&self) -> bool {
                self.is_empty()
            }
            fn encode_value(&self, buf: &mut impl BufMut) {
                encode_varint(self.len() as u64, buf);
                buf.put_slice(self);
            }
            fn value_len(&self) -> usize {
                encoded_len_varint(self.len() as u64) + self.len()
            }
            fn merge_value(
                &mut self,
                wire_type: WireType,
                buf: &mut impl Buf,
                ctx: DecodeContext,
            ) -> Result<(), DecodeError> {
                // For `Bytes` read from a `Bytes` buffer this is a reference count, not a copy.
                prost::encoding::bytes::merge(wire_type, self, buf, ctx)
            }
        }
    )*};
}

bytes_like! {
    Vec<u8> => Vec::new();
    Bytes => Bytes::new();
}
