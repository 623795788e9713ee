//! Field-level encoding: one module per field shape, called by the derive's output.
//!
//! Every function takes the field number and the field; [`ProtoElem`] does the per-value work.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

use bytes::{Buf, BufMut};
use prost::encoding::{
    decode_key, encode_key, encode_varint, encoded_len_varint, key_len, merge_loop, skip_field,
};

use super::{DecodeContext, DecodeError, ProtoElem, WireType};

/// A plain field `T`: left off the wire when it equals the default (proto3 implicit presence);
/// messages are always written.
pub mod singular {
    use super::*;

    /// Writes the field unless it holds the default value.
    #[inline]
    pub fn encode<E: ProtoElem>(tag: u32, value: &E, buf: &mut impl BufMut) {
        if !value.is_default() {
            always::encode(tag, value, buf);
        }
    }

    /// The bytes [`encode`] writes.
    #[inline]
    pub fn encoded_len<E: ProtoElem>(tag: u32, value: &E) -> usize {
        if value.is_default() {
            0
        } else {
            always::encoded_len(tag, value)
        }
    }

    /// Merges one occurrence of the field.
    #[inline]
    pub fn merge<E: ProtoElem>(
        wire_type: WireType,
        value: &mut E,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        value.merge_value(wire_type, buf, ctx)
    }
}

/// A field written whether or not it holds the default: oneof members and `Option` contents.
pub mod always {
    use super::*;

    /// Writes key and value.
    #[inline]
    pub fn encode<E: ProtoElem>(tag: u32, value: &E, buf: &mut impl BufMut) {
        encode_key(tag, E::WIRE_TYPE, buf);
        value.encode_value(buf);
    }

    /// The bytes [`encode`] writes.
    #[inline]
    pub fn encoded_len<E: ProtoElem>(tag: u32, value: &E) -> usize {
        key_len(tag) + value.value_len()
    }
}

/// `Option<T>`: proto3 `optional`, written whenever it is `Some`.
pub mod optional {
    use super::*;

    /// Writes the field if it is `Some`.
    #[inline]
    pub fn encode<E: ProtoElem>(tag: u32, value: &Option<E>, buf: &mut impl BufMut) {
        if let Some(v) = value {
            always::encode(tag, v, buf);
        }
    }

    /// The bytes [`encode`] writes.
    #[inline]
    pub fn encoded_len<E: ProtoElem>(tag: u32, value: &Option<E>) -> usize {
        value.as_ref().map_or(0, |v| always::encoded_len(tag, v))
    }

    /// Merges one occurrence of the field, making it `Some`.
    #[inline]
    pub fn merge<E: ProtoElem>(
        wire_type: WireType,
        value: &mut Option<E>,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        value
            .get_or_insert_with(E::empty)
            .merge_value(wire_type, buf, ctx)
    }
}

/// `Vec<T>`: `repeated`, packed when [`ProtoElem::PACKED`].
pub mod repeated {
    use super::*;

    /// Writes every element (one packed record for numeric types).
    #[inline]
    pub fn encode<E: ProtoElem>(tag: u32, values: &[E], buf: &mut impl BufMut) {
        if values.is_empty() {
            return;
        }
        if E::PACKED {
            encode_key(tag, WireType::LengthDelimited, buf);
            encode_varint(packed_body_len(values) as u64, buf);
            for v in values {
                v.encode_value(buf);
            }
        } else {
            for v in values {
                always::encode(tag, v, buf);
            }
        }
    }

    fn packed_body_len<E: ProtoElem>(values: &[E]) -> usize {
        values.iter().map(ProtoElem::value_len).sum()
    }

    /// The bytes [`encode`] writes.
    #[inline]
    pub fn encoded_len<E: ProtoElem>(tag: u32, values: &[E]) -> usize {
        if values.is_empty() {
            0
        } else if E::PACKED {
            let body = packed_body_len(values);
            key_len(tag) + encoded_len_varint(body as u64) + body
        } else {
            key_len(tag) * values.len() + packed_body_len(values)
        }
    }

    /// Merges one record: a packed run or a single element, whichever the peer wrote.
    #[inline]
    pub fn merge<E: ProtoElem>(
        wire_type: WireType,
        values: &mut Vec<E>,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if E::PACKED && wire_type == WireType::LengthDelimited {
            merge_loop(values, buf, ctx, |values, buf, ctx| {
                let mut v = E::empty();
                v.merge_value(E::WIRE_TYPE, buf, ctx)?;
                values.push(v);
                Ok(())
            })
        } else {
            let mut v = E::empty();
            v.merge_value(wire_type, buf, ctx)?;
            values.push(v);
            Ok(())
        }
    }
}

/// The maps a message field may be: `HashMap` (any hasher) and `BTreeMap`.
pub trait ProtoMap {
    /// Key type.
    type Key: ProtoElem;
    /// Value type.
    type Value: ProtoElem;
    /// The entries, in the map's iteration order.
    fn entries(&self) -> impl Iterator<Item = (&Self::Key, &Self::Value)>;
    /// Whether the map is empty.
    fn is_empty(&self) -> bool;
    /// Inserts an entry, replacing an earlier one with the same key (protobuf's last-wins rule).
    fn insert_entry(&mut self, key: Self::Key, value: Self::Value);
}

impl<K, V, S> ProtoMap for HashMap<K, V, S>
where
    K: ProtoElem + Eq + Hash,
    V: ProtoElem,
    S: BuildHasher,
{
    type Key = K;
    type Value = V;
    fn entries(&self) -> impl Iterator<Item = (&K, &V)> {
        self.iter()
    }
    fn is_empty(&self) -> bool {
        HashMap::is_empty(self)
    }
    fn insert_entry(&mut self, key: K, value: V) {
        self.insert(key, value);
    }
}

impl<K, V> ProtoMap for BTreeMap<K, V>
where
    K: ProtoElem + Ord,
    V: ProtoElem,
{
    type Key = K;
    type Value = V;
    fn entries(&self) -> impl Iterator<Item = (&K, &V)> {
        self.iter()
    }
    fn is_empty(&self) -> bool {
        BTreeMap::is_empty(self)
    }
    fn insert_entry(&mut self, key: K, value: V) {
        self.insert(key, value);
    }
}

/// `map<K, V>`: each entry is a length-delimited record with the key as field 1 and the value
/// as field 2, defaults left off as protobuf's own runtimes do.
pub mod map {
    use super::*;

    fn entry_len<K: ProtoElem, V: ProtoElem>(key: &K, value: &V) -> usize {
        singular::encoded_len(1, key) + singular::encoded_len(2, value)
    }

    /// Writes every entry.
    pub fn encode<M: ProtoMap>(tag: u32, map: &M, buf: &mut impl BufMut) {
        for (k, v) in map.entries() {
            encode_key(tag, WireType::LengthDelimited, buf);
            encode_varint(entry_len(k, v) as u64, buf);
            singular::encode(1, k, buf);
            singular::encode(2, v, buf);
        }
    }

    /// The bytes [`encode`] writes.
    pub fn encoded_len<M: ProtoMap>(tag: u32, map: &M) -> usize {
        if map.is_empty() {
            return 0;
        }
        map.entries()
            .map(|(k, v)| {
                let len = entry_len(k, v);
                key_len(tag) + encoded_len_varint(len as u64) + len
            })
            .sum()
    }

    /// Merges one entry.
    pub fn merge<M: ProtoMap>(
        wire_type: WireType,
        map: &mut M,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        super::super::check_wire_type(WireType::LengthDelimited, wire_type)?;
        let mut entry = (M::Key::empty(), M::Value::empty());
        merge_loop(&mut entry, buf, ctx, |(key, value), buf, ctx| {
            let (tag, wire_type) = decode_key(buf)?;
            match tag {
                1 => key.merge_value(wire_type, buf, ctx),
                2 => value.merge_value(wire_type, buf, ctx),
                _ => skip_field(wire_type, tag, buf, ctx),
            }
        })?;
        map.insert_entry(entry.0, entry.1);
        Ok(())
    }
}

/// A unit variant of an enum with data: an empty message on the wire.
pub mod unit {
    use super::*;

    /// Writes an empty length-delimited record.
    #[inline]
    pub fn encode(tag: u32, buf: &mut impl BufMut) {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(0, buf);
    }

    /// The bytes [`encode`] writes.
    #[inline]
    pub fn encoded_len(tag: u32) -> usize {
        key_len(tag) + 1
    }

    /// Reads (and ignores the unknown fields of) an empty message.
    #[inline]
    pub fn merge(
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        super::super::check_wire_type(WireType::LengthDelimited, wire_type)?;
        merge_loop(&mut (), buf, ctx, |(), buf, ctx| {
            let (tag, wire_type) = decode_key(buf)?;
            skip_field(wire_type, tag, buf, ctx)
        })
    }
}

/// An unknown field: skipped, as protobuf requires for forward compatibility.
#[inline]
pub fn skip(
    wire_type: WireType,
    tag: u32,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    skip_field(wire_type, tag, buf, ctx)
}

/// Helpers for message types, used by the derive's `ProtoElem` impls.
pub mod message {
    use super::*;

    /// Writes a message's length and body.
    #[inline]
    pub fn encode_value<M: prost::Message>(msg: &M, buf: &mut impl BufMut) {
        encode_varint(msg.encoded_len() as u64, buf);
        msg.encode_raw(buf);
    }

    /// Length prefix plus body.
    #[inline]
    pub fn value_len<M: prost::Message>(msg: &M) -> usize {
        let len = msg.encoded_len();
        encoded_len_varint(len as u64) + len
    }

    /// Merges a length-delimited body, within prost's recursion limit.
    #[inline]
    pub fn merge_value<M: prost::Message>(
        msg: &mut M,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        prost::encoding::message::merge(wire_type, msg, buf, ctx)
    }
}
