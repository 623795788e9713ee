//! [`Static`]: a fixed list of addresses.

use std::net::SocketAddr;

use futures_util::{StreamExt, stream};

use crate::{Change, Changes, Discovery, Instance, Registrar, Registration};

/// A fixed list of addresses serving every service: discovery yields them once (and then
/// nothing); registering does nothing.
#[derive(Debug, Clone, Default)]
pub struct Static {
    addrs: Vec<SocketAddr>,
}

impl Static {
    /// A list of `addrs`.
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self {
            addrs: addrs.into_iter().collect(),
        }
    }

    /// The addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

impl Registrar for Static {
    fn register(&self, _instance: Instance) -> Registration {
        Registration::none()
    }
}

impl Discovery for Static {
    fn discover(&self, service: &str) -> Changes {
        let changes: Vec<_> = self
            .addrs
            .iter()
            .map(|addr| {
                let mut instance = Instance::new(service, *addr);
                instance.id = addr.to_string();
                Ok(Change::Insert(instance.id.clone(), instance))
            })
            .collect();
        // Never ends: a static list does not change, and an ended stream would read as
        // "the registry went away" to some consumers.
        stream::iter(changes).chain(stream::pending()).boxed()
    }
}
