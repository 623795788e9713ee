//! # arpc
//!
//! An RPC framework for Rust services in which the Rust trait is the IDL and the wire format
//! adapts to the data: each method, and each message, can travel as protobuf, JSON,
//! MessagePack or postcard, chosen by policy, by size and by measured cost.
//!
//! This is the crate a service depends on; it re-exports the macros.
//!
//! ```
//! use arpc::codec::{CodecKind, CodecPolicy, CodecSelector, CodecSet};
//!
//! #[arpc::message]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Greeting {
//!     name: String,          // field 1
//!     times: u32,            // field 2
//!     #[arpc(tag = 7)]
//!     tags: Vec<String>,     // field 7
//! }
//!
//! let msg = Greeting { name: "ada".into(), times: 3, tags: vec!["x".into()] };
//! for codec in CodecKind::ALL {
//!     let mut buf = bytes::BytesMut::new();
//!     codec.encode(&msg, &mut buf).unwrap();
//!     let back: Greeting = codec.decode(buf.freeze()).unwrap();
//!     assert_eq!(back, msg);
//! }
//!
//! // Compact binary below 16 KiB, JSON above, among the codecs the peer accepts.
//! let selector = CodecSelector::new(CodecPolicy::BySize {
//!     small: CodecKind::Postcard,
//!     large: CodecKind::Json,
//!     threshold_bytes: 16 * 1024,
//! });
//! let mut buf = bytes::BytesMut::new();
//! let used = selector.encode(&msg, CodecSet::ALL, &mut buf).unwrap();
//! assert_eq!(used, CodecKind::Postcard);
//! ```
//!
//! ## Structure
//!
//! | module | holds |
//! |---|---|
//! | [`message`](mod@message) | the [`Message`] trait every request and response implements |
//! | [`codec`] | the [`Codec`](codec::Codec) trait, one file per codec, [`CodecPolicy`](codec::CodecPolicy) and [`CodecSelector`](codec::CodecSelector) |
//! | [`proto`] | protobuf wire encoding of derived messages, on `prost::encoding` |
//! | [`schema`] | the runtime schema model the `.proto` emitter renders (messages, services), the types a service reaches and their protobuf names |
//! | [`server`] | [`Server::builder`], serving one call, the router, the blocking pool |
//! | [`client`] | [`Channel`] (one address, or balanced over a registry's instances), [`CallOptions`], the unary call |
//! | [`registry`] | registration and discovery (`arpc-registry`): static lists, ZooKeeper in Curator's layout |
//! | [`context`] | [`Context`]: deadline, metadata, peer and codecs of the call being served |
//! | [`health`] | the standard `grpc.health.v1` service, tied to the server's life |
//! | [`reflection`] | gRPC server reflection (v1 and v1alpha), so tools can list and call services |
//! | [`descriptor`] | protobuf descriptors built from a service's schema (what reflection serves) |
//! | [`status`] | [`Status`] and [`Code`], and which code arpc uses when |
//! | [`wire`] | gRPC framing, `grpc-timeout`, codec negotiation headers |
//! | `tls` | rustls settings for servers and clients (feature `tls`) |
//!
//! ## Services
//!
//! `#[arpc::service]` on a trait generates `{Trait}Server<T>` and `{Trait}Client`: an
//! `async fn` is a read (runs on the runtime), a plain `fn` a write (runs on the server's
//! bounded blocking pool). See the README for the options and the wire behaviour, and
//! `examples/hello` for a whole service.
//!
//! ## Messages
//!
//! `#[arpc::message]` on a struct or enum derives serde's `Serialize`/`Deserialize` and
//! [`Message`]. Use `#[derive(arpc::Message)]` instead when you write the serde derives
//! yourself. The type must also implement `Debug`.
//!
//! | Rust | protobuf |
//! |---|---|
//! | `bool` | `bool` |
//! | `i8`, `i16`, `i32` / `i64`, `isize` | `int32` / `int64` |
//! | `u8`, `u16`, `u32` / `u64`, `usize` | `uint32` / `uint64` |
//! | `f32` / `f64` | `float` / `double` |
//! | `String` | `string` |
//! | `Vec<u8>`, `bytes::Bytes` | `bytes` |
//! | `Option<T>` | `optional T` |
//! | `Vec<T>` | `repeated T` (packed for numbers and enums) |
//! | `HashMap<K, V>`, `BTreeMap<K, V>` | `map<K, V>` (keys: integers, `bool`, `String`) |
//! | a struct with `#[arpc::message]` | a nested `message` |
//! | a unit-only enum | an `enum` (values are the Rust discriminants; one must be 0) |
//! | an enum whose variants are unit or hold one value | a `message` with one `oneof` (unit variants are `google.protobuf.Empty`) |
//!
//! Field numbers are given in declaration order from 1 (protostuff's runtime-schema rule,
//! so a protostuff or protobuf peer reads the same bytes); `#[arpc(tag = N)]` on a field or
//! variant sets one by hand, and the numbering goes on from there. Anything else is a compile
//! error on the offending field.
//!
//! Decoding never panics: malformed input of any codec is a [`codec::DecodeError`] naming the
//! codec, the type and, where the format says, the byte offset. A decoded integer that does
//! not fit its Rust type is an error, not a truncation. An unknown enum number is an error too
//! (a Rust enum cannot hold it); an enum with data that arrives with no member set decodes as
//! its first variant's default, so use `Option<Enum>` where absence matters.
//!
//! ## Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `tls` | on | TLS with rustls (ring provider): [`tls::ServerTls`], [`tls::ClientTls`] |
//! | `metrics` | on | Prometheus metrics per method, codec and status (`arpc::metrics`), on `prometheus-client` |
//! | `opentelemetry` | off | with `tracing-opentelemetry`'s layer, `traceparent` carries the exported spans' ids and a server span's parent is the caller's, so an OpenTelemetry exporter shows one trace across processes |
//! | `zookeeper` | on | `zk://` registries: discovery and registration on ZooKeeper in Curator's layout (`arpc::registry::ZooKeeper`); without it, static lists only and none of the ZooKeeper client's ~90 crates |
//!
//! Every codec is always built.
//!
//! ## MSRV
//!
//! Rust 1.88, as `rust-version` in `Cargo.toml` says.

// The macros' output names `::arpc`; inside this crate that is this crate.
extern crate self as arpc;

pub mod client;
pub mod codec;
pub mod context;
pub mod descriptor;
#[doc(hidden)]
pub mod fuzz;
pub mod health;
pub mod message;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod proto;
pub mod reflection;
pub mod schema;
pub mod server;
pub mod status;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trace;
pub mod wire;

pub use self::client::{CallOptions, Channel};

/// The error of a tower layer, on either side: the server turns one into a status answer, the
/// client into the call's `Status`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub use self::context::Context;
pub use self::message::Message;
pub use self::server::Server;
pub use self::status::{Code, Status};
/// Derives [`Message`] for a struct or enum that already derives serde's traits.
pub use arpc_macros::Message;
/// Derives serde's `Serialize` and `Deserialize` and [`Message`]: one line per message type.
pub use arpc_macros::message;
/// Turns a trait into a gRPC service with a generated server and client.
pub use arpc_macros::service;
/// Service registration and discovery (`arpc-registry`): [`Registry`](registry::Registry) by
/// URL, static lists and ZooKeeper in Apache Curator's layout.
pub use arpc_registry as registry;
/// gRPC metadata (`MetadataMap`, `MetadataValue`, ASCII and `-bin` keys): tonic's types, which
/// [`Context`], [`CallOptions`] and [`client::Response`] use.
pub use tonic::metadata;

/// What generated code names, by absolute path. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use bytes;
    pub use futures_util::future::BoxFuture;
    pub use http;
    pub use http_body;
    pub use prost;
    pub use serde;
    pub use tonic;
    pub use tower;
}
