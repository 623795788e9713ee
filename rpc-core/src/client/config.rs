//! [`ChannelConfig`]: how a channel makes and keeps its connections, and what it accepts. One
//! configuration serves a channel to one address ([`Channel::connect_with`]) and a discovering
//! channel ([`Channel::discover_with`]), whose every instance's connection gets it.
//!
//! [`Channel::connect_with`]: super::Channel::connect_with
//! [`Channel::discover_with`]: super::Channel::discover_with

use std::time::Duration;

use crate::wire::DEFAULT_MAX_MESSAGE_BYTES;

/// How a channel connects, keeps its connections alive, and how large a response it accepts.
///
/// | setting | default | what |
/// |---|---|---|
/// | `connect_timeout` | 5 s | giving up on making a connection (TCP, TLS and HTTP/2 handshakes); the call fails `UNAVAILABLE` |
/// | `keepalive_interval` | 30 s | an HTTP/2 PING this often, so a peer that went silent is noticed without a call hanging on it |
/// | `keepalive_timeout` | 10 s | a PING unanswered this long marks the connection dead; the next call makes a new one |
/// | `max_response_bytes` | 4 MiB | larger responses fail `RESOURCE_EXHAUSTED` (read no further than the frame header) |
/// | `connections` | 1 | HTTP/2 connections a channel to one address keeps, taken in turn by its calls: more than one helps when one connection's task (one core) is the limit; on two cores it did not (`benches/README.md`) |
/// | `network_price` | none | ns of CPU-equivalent cost per byte on the wire, for methods whose codec policy is `Auto` (see [`NetworkPrice`](crate::codec::NetworkPrice)); none leaves each method's `AutoConfig` default |
/// | `zone` | none | this client's zone: a discovering channel without a `network_price` then prices bytes as the same zone or another zone, from the zones its instances announce in the registry |
/// | `tls` (feature `tls`) | none | TLS for every connection, verified against the given roots and server name; for a discovering channel, every instance must present a certificate for that name |
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// Giving up on making a connection.
    pub connect_timeout: Duration,
    /// How often a connection is checked with an HTTP/2 PING.
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before the connection counts as dead.
    pub keepalive_timeout: Duration,
    /// The largest response accepted.
    pub max_response_bytes: usize,
    /// HTTP/2 connections to one address (at least 1); calls take them in turn.
    pub connections: usize,
    /// The price of a byte on the wire for `Auto` methods, in ns.
    pub network_price: Option<f64>,
    /// This client's zone, to price bytes by the zones of discovered instances.
    pub zone: Option<String>,
    /// TLS for every connection, if set.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ClientTls>,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_response_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            connections: 1,
            network_price: None,
            zone: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ChannelConfig {
    /// Sets the network price (ns per byte) `Auto` methods weigh bytes with.
    #[must_use]
    pub fn network_price(mut self, ns_per_byte: f64) -> Self {
        self.network_price = Some(ns_per_byte);
        self
    }

    /// Sets this client's zone (see the table above).
    #[must_use]
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets how often a PING checks the connection, and how long it may go unanswered.
    #[must_use]
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
        self
    }

    /// Sets the largest response accepted.
    #[must_use]
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Sets how many connections a channel to one address keeps (at least 1).
    #[must_use]
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n.max(1);
        self
    }

    /// Uses TLS for every connection.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }
}
