//! [`Registry`]: a registry chosen by URL.

#[cfg(feature = "zookeeper")]
use crate::ZooKeeper;
use crate::{Changes, Discovery, Instance, Registrar, Registration, RegistryError, Static};

/// A registry chosen by URL: `static://host:port,…` or `zk://host:port,…/base`.
#[derive(Debug, Clone)]
pub enum Registry {
    /// A fixed list.
    Static(Static),
    /// ZooKeeper, in Curator's layout (feature `zookeeper`).
    #[cfg(feature = "zookeeper")]
    ZooKeeper(ZooKeeper),
}

impl Registry {
    /// Parses `url`. `zk://` takes comma-separated `host:port`s, an optional base path
    /// (default `/arpc`) and an optional `?session_timeout_ms=N` (default 10 000). Nothing
    /// connects until the registry is used.
    pub fn from_url(url: &str) -> Result<Self, RegistryError> {
        let bad = |reason: &str| RegistryError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(list) = url.strip_prefix("static://") {
            let addrs = list
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|a| {
                    a.parse()
                        .map_err(|_| bad("expected host:port addresses (IP literals)"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Self::Static(Static::new(addrs)));
        }
        let Some(rest) = url.strip_prefix("zk://") else {
            return Err(bad("expected static:// or zk://"));
        };
        Self::zookeeper(rest, &bad)
    }

    #[cfg(not(feature = "zookeeper"))]
    fn zookeeper(_: &str, bad: &dyn Fn(&str) -> RegistryError) -> Result<Self, RegistryError> {
        Err(bad(
            "zk:// needs the `zookeeper` feature (of arpc, or arpc-registry), which this build left out",
        ))
    }

    #[cfg(feature = "zookeeper")]
    fn zookeeper(rest: &str, bad: &dyn Fn(&str) -> RegistryError) -> Result<Self, RegistryError> {
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (hosts, base) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/arpc"),
        };
        if hosts.is_empty() {
            return Err(bad("no ZooKeeper host"));
        }
        let base = base.trim_end_matches('/');
        let base = if base.is_empty() { "/arpc" } else { base };
        let mut session_timeout = std::time::Duration::from_secs(10);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("session_timeout_ms", v)) => {
                    let ms: u64 = v
                        .parse()
                        .map_err(|_| bad("session_timeout_ms is not a number"))?;
                    session_timeout = std::time::Duration::from_millis(ms);
                }
                _ => return Err(bad("unknown parameter (known: session_timeout_ms)")),
            }
        }
        Ok(Self::ZooKeeper(ZooKeeper::new(
            hosts,
            base,
            session_timeout,
        )))
    }
}

impl Registrar for Registry {
    fn register(&self, instance: Instance) -> Registration {
        match self {
            Self::Static(r) => r.register(instance),
            #[cfg(feature = "zookeeper")]
            Self::ZooKeeper(r) => r.register(instance),
        }
    }
}

impl Discovery for Registry {
    fn discover(&self, service: &str) -> Changes {
        match self {
            Self::Static(r) => r.discover(service),
            #[cfg(feature = "zookeeper")]
            Self::ZooKeeper(r) => r.discover(service),
        }
    }
}

#[cfg(all(test, feature = "zookeeper"))]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let Registry::ZooKeeper(zk) =
            Registry::from_url("zk://127.0.0.1:2181,127.0.0.1:2182/svc?session_timeout_ms=3000")
                .unwrap()
        else {
            panic!("not ZooKeeper");
        };
        assert_eq!(zk.hosts(), "127.0.0.1:2181,127.0.0.1:2182");
        assert_eq!(zk.base(), "/svc");
        assert_eq!(zk.session_timeout(), std::time::Duration::from_secs(3));
        let Registry::ZooKeeper(zk) = Registry::from_url("zk://h:1").unwrap() else {
            panic!("not ZooKeeper");
        };
        assert_eq!(zk.base(), "/arpc");
        let Registry::Static(s) = Registry::from_url("static://127.0.0.1:1,127.0.0.1:2").unwrap()
        else {
            panic!("not static");
        };
        assert_eq!(s.addrs().len(), 2);
        for bad in [
            "http://x",
            "zk://",
            "zk://h:1?x=1",
            "static://nothost",
            "zk://h:1?session_timeout_ms=a",
        ] {
            assert!(Registry::from_url(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(all(test, not(feature = "zookeeper")))]
mod without_zookeeper {
    use super::*;

    #[test]
    fn zk_urls_say_which_feature_is_missing() {
        let err = Registry::from_url("zk://127.0.0.1:2181").unwrap_err();
        assert!(err.to_string().contains("`zookeeper` feature"), "{err}");
        assert!(Registry::from_url("static://127.0.0.1:1").is_ok());
    }
}
