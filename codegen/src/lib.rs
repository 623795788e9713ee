//! # arpc-codegen
//!
//! Schema tooling for arpc services, reading the runtime schema that `#[arpc::message]` and
//! `#[arpc::service]` build ([`arpc::schema`]):
//!
//! - [`proto::render`]: a deterministic proto3 file for a service, for other languages;
//! - [`golden::check`]: a golden-file check, so a checked-in `.proto` cannot drift from the
//!   Rust trait unnoticed (set `ARPC_BLESS=1` to rewrite the file on purpose);
//! - [`compat::check`] and [`compat::check_service`]: what in a new schema breaks peers built
//!   from the old one (the command `arpc-codegen check --old OLD.proto --new NEW.proto` exits
//!   1 on a breaking change), with [`parse::parse`] reading the `.proto` files.
//!
//! ```
//! #[arpc::message]
//! #[derive(Debug, Clone, PartialEq)]
//! struct Ping { text: String }
//!
//! #[arpc::service(package = "demo.v1")]
//! trait Echo {
//!     async fn echo(&self, ping: Ping) -> Result<Ping, arpc::Status>;
//! }
//!
//! let proto = arpc_codegen::proto::render(EchoClient::schema()).unwrap();
//! assert!(proto.contains("service Echo {"));
//! assert!(proto.contains("rpc Echo(Ping) returns (Ping);"));
//! assert!(proto.contains("string text = 1;"));
//! ```

pub mod compat;
pub mod golden;
pub mod parse;
pub mod proto;
