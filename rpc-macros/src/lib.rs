//! Procedural macros for arpc. Use them through the `arpc` crate (`arpc::message`,
//! `arpc::Message`), which re-exports them and the paths their output names.
//!
//! Each macro is split into parse → model → validate → expand, one file per step, with every
//! diagnostic collected before failing and spanned on the offending tokens.

use proc_macro::TokenStream;

mod diagnostics;
mod message;
mod service;

/// Derives `arpc::Message` (protobuf encoding and runtime schema) for a struct or enum that
/// also derives serde's `Serialize` and `Deserialize`. See the `arpc` crate docs.
#[proc_macro_derive(Message, attributes(arpc))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::derive(&input).into()
}

/// `#[arpc::message]`: derives serde's `Serialize` and `Deserialize` and `arpc::Message` on a
/// struct or enum, with serde named through arpc so the user's crate need not depend on it.
#[proc_macro_attribute]
pub fn message(args: TokenStream, input: TokenStream) -> TokenStream {
    message::attribute(args.into(), &input.into()).into()
}

/// `#[arpc::service]` on a trait: each method becomes a unary gRPC method, with a generated
/// `{Trait}Server<T>` and `{Trait}Client`. See the `arpc` crate docs.
#[proc_macro_attribute]
pub fn service(args: TokenStream, input: TokenStream) -> TokenStream {
    service::service(args.into(), &input.into()).into()
}
