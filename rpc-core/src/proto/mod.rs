//! Protobuf wire encoding for `#[derive(arpc::Message)]` types, on top of `prost::encoding`.
//!
//! The derive classifies each field by its shape (plain, `Option`, `Vec`, map) and calls the
//! matching function in [`field`]; what one value looks like on the wire is the job of
//! [`ProtoElem`], implemented here for the scalars and by the derive for messages and enums.
//!
//! Field numbers follow protostuff's runtime-schema rule: declaration order from 1, unless a
//! field says `#[arpc(tag = N)]`. Proto3 semantics: plain scalars equal to their default are not
//! written; `Option<T>` is written whenever it is `Some`; nested messages are always written.

pub mod field;
mod scalar;

use bytes::{Buf, BufMut};
pub use prost::encoding::{DecodeContext, WireType};

use crate::schema::ElemType;

/// The protobuf error type, re-exported for derive output.
pub type DecodeError = prost::DecodeError;

/// One value of a field, as it travels on the protobuf wire.
///
/// Implemented for `bool`, the integers up to 64 bits, `f32`, `f64`, `String`, `Vec<u8>`,
/// `bytes::Bytes`, and by `#[derive(arpc::Message)]` for structs, unit-only enums and enums
/// with data. You do not implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of an arpc message",
    label = "not supported in an arpc message",
    note = "supported: bool, integers up to 64 bits, f32, f64, String, Vec<u8>, bytes::Bytes, \
            Option<T>, Vec<T>, HashMap/BTreeMap<K, V>, and types with #[arpc::message] or \
            #[derive(arpc::Message)]"
)]
pub trait ProtoElem: Sized + Send + Sync {
    /// The wire type one value is written with (for a packed repeated field, of one element).
    const WIRE_TYPE: WireType;
    /// The schema type, for the `.proto` emitter.
    const TYPE: ElemType;
    /// Whether a repeated field of this type is written packed (numeric scalars and enums).
    const PACKED: bool = false;

    /// The default value: zero, empty, or a message with every field empty.
    fn empty() -> Self;
    /// Whether a plain (non-`Option`) field holding this value may be left off the wire.
    fn is_default(&self) -> bool;
    /// Writes the value without its key; length-delimited types write their length first.
    fn encode_value(&self, buf: &mut impl BufMut);
    /// The number of bytes [`encode_value`](Self::encode_value) writes.
    fn value_len(&self) -> usize;
    /// Reads one value written with `wire_type` and merges it into `self`.
    fn merge_value(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError>;
}

/// A decode error with a description of our own (a value out of range, an unknown enum value).
#[cold]
pub fn invalid(description: String) -> DecodeError {
    // prost offers no other public constructor for errors raised by `Message` implementations.
    #[allow(deprecated)]
    DecodeError::new(description)
}

/// Fails unless a value was written with the wire type its field expects.
#[inline]
pub fn check_wire_type(expected: WireType, actual: WireType) -> Result<(), DecodeError> {
    if expected == actual {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid wire type: {actual:?} (expected {expected:?})"
        )))
    }
}

/// The scalar type of a map key, for the schema. The derive only calls it on key types it
/// has checked are scalars.
pub const fn map_key_type(key: ElemType) -> crate::schema::ScalarType {
    match key {
        ElemType::Scalar(s) => s,
        _ => panic!("arpc: a map key must be a scalar"),
    }
}
