//! # arpc-codegen
//!
//! Schema tooling for arpc services: rendering the runtime schema that `#[arpc::message]` and
//! (later) `#[arpc::service]` build (see [`arpc::schema`]) into `.proto` files for other
//! languages, and checking a new schema against an old one for breaking changes.
//!
//! Not built yet: this crate holds the place the `.proto` emitter and compatibility checker
//! will live in. The model it will render, [`arpc::schema::MessageSchema`], exists and is
//! filled in by the message derive today.
