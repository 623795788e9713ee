//! Codec errors: what failed, in which codec, for which Rust type, and where.

use std::fmt;

use super::CodecKind;

/// A message could not be decoded.
///
/// Names the codec and the Rust type, and the byte offset where the format tells one. Every
/// decoder returns this instead of panicking, whatever the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub struct DecodeError {
    codec: CodecKind,
    type_name: &'static str,
    offset: Option<u64>,
    #[source]
    cause: DecodeCause,
}

impl DecodeError {
    pub(crate) fn new<T>(codec: CodecKind, offset: Option<u64>, cause: DecodeCause) -> Self {
        Self {
            codec,
            type_name: std::any::type_name::<T>(),
            offset,
            cause,
        }
    }

    /// The codec that failed.
    pub fn codec(&self) -> CodecKind {
        self.codec
    }

    /// The Rust type being decoded, as `std::any::type_name` writes it.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The byte offset in the input where decoding stopped, where the format gives one.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The format's own description of the problem.
    pub fn cause(&self) -> &DecodeCause {
        &self.cause
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode `{}` from {}", self.type_name, self.codec)?;
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        write!(f, ": {}", self.cause)
    }
}

/// The format-level reason behind a [`DecodeError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeCause {
    /// Malformed protobuf.
    #[error("{0}")]
    Proto(#[from] prost::DecodeError),
    /// Malformed JSON, or JSON of the wrong shape.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Malformed MessagePack, or of the wrong shape.
    #[error("{0}")]
    MsgPack(#[from] rmp_serde::decode::Error),
    /// Malformed postcard, or of the wrong shape.
    #[error("{0}")]
    Postcard(#[from] postcard::Error),
    /// A whole message was read but bytes were left: a framing bug or a different schema.
    #[error("{0} bytes left over after the message")]
    TrailingBytes(usize),
}

/// A message could not be encoded (a custom `Serialize` impl failed, or a format cannot
/// represent a value).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode `{type_name}` as {codec}: {message}")]
#[non_exhaustive]
pub struct EncodeError {
    codec: CodecKind,
    type_name: &'static str,
    message: String,
}

impl EncodeError {
    pub(crate) fn new<T>(codec: CodecKind, message: impl fmt::Display) -> Self {
        Self {
            codec,
            type_name: std::any::type_name::<T>(),
            message: message.to_string(),
        }
    }

    /// The codec that failed.
    pub fn codec(&self) -> CodecKind {
        self.codec
    }

    /// The Rust type being encoded.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}
