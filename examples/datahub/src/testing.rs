//! Helpers for tests and benchmarks that need real parts: free loopback ports, and (features
//! `postgres`, `kafka`) throwaway PostgreSQL clusters and Kafka-protocol brokers started as
//! processes.

use std::net::{SocketAddr, TcpListener};

/// A free port on 127.0.0.1 (bound, then released: another process could take it in
/// between, which on a test machine's loopback does not happen in practice).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(l.local_addr()?.port())
}
