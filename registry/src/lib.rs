//! # arpc-registry
//!
//! Service registration and discovery for arpc: a `Registrar` that announces a server, and a
//! discovery side that feeds `tower::discover::Change` events to client-side balancers, with a
//! static list and a ZooKeeper implementation (Apache Curator's layout).
//!
//! Not built yet: this crate holds the place; the transport it will serve comes first.
