//! The [`Message`] trait: what every request and response type implements.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::proto::ProtoElem;
use crate::schema::MessageSchema;

/// A type that can travel as an arpc request or response, in any codec.
///
/// Implemented by `#[arpc::message]` (which also derives serde's traits) or by
/// `#[derive(arpc::Message)]` next to your own serde derives. It gives the type:
///
/// - the protobuf wire format, through [`prost::Message`] (field numbers in declaration order
///   from 1, or `#[arpc(tag = N)]`);
/// - the serde format used by the JSON, MessagePack and postcard codecs;
/// - a runtime [`MessageSchema`] for the `.proto` emitter.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an arpc message",
    label = "not an arpc message",
    note = "annotate the type with #[arpc::message] (or #[derive(arpc::Message)] with serde's derives)"
)]
pub trait Message:
    prost::Message + ProtoElem + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The type's name, as written in Rust and used in the schema.
    const NAME: &'static str;

    /// The type's protobuf shape.
    fn schema() -> &'static MessageSchema;

    /// The length of this message's protobuf encoding, computed without writing it. arpc
    /// uses it as the size estimate when choosing a codec.
    fn proto_len(&self) -> usize {
        prost::Message::encoded_len(self)
    }
}
