//! [`Instance`]: one server's announcement of one service, and arpc's metadata about it.

use std::net::SocketAddr;

/// One instance of a service: where it answers and what arpc knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The service name, arpc's full gRPC name (`hello.v1.Greeter`).
    pub service: String,
    /// Unique per registration (a UUID, as Curator uses).
    pub id: String,
    /// Host or IP address clients connect to.
    pub address: String,
    /// Plain-text (h2c) port.
    pub port: u16,
    /// arpc's own metadata (Curator's `payload`).
    pub meta: InstanceMeta,
}

/// What arpc publishes about an instance besides its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceMeta {
    /// Codecs the instance accepts (`proto`, `json`, `msgpack`, `postcard`).
    pub codecs: Vec<String>,
    /// Relative weight for balancing (1 = normal).
    pub weight: u32,
    /// Availability zone, empty when unknown.
    pub zone: String,
    /// The server's version string, empty when unknown.
    pub version: String,
}

impl Default for InstanceMeta {
    fn default() -> Self {
        Self {
            codecs: ["proto", "json", "msgpack", "postcard"]
                .map(String::from)
                .to_vec(),
            weight: 1,
            zone: String::new(),
            version: String::new(),
        }
    }
}

impl Instance {
    /// An instance of `service` at `addr` with a fresh id and default metadata.
    pub fn new(service: impl Into<String>, addr: SocketAddr) -> Self {
        Self {
            service: service.into(),
            id: Self::new_id(),
            address: addr.ip().to_string(),
            port: addr.port(),
            meta: InstanceMeta::default(),
        }
    }

    /// A fresh instance id: a random UUID, as Curator makes them. A server that registers
    /// several services uses one id for all of them.
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// The URI a client dials: `http://address:port` (IPv6 addresses bracketed).
    pub fn uri(&self) -> String {
        if self.address.contains(':') {
            format!("http://[{}]:{}", self.address, self.port)
        } else {
            format!("http://{}:{}", self.address, self.port)
        }
    }
}
