//! [`ZooKeeper`]: registration and discovery in Apache Curator's layout, on the async
//! `zookeeper-client` crate.
//!
//! One ZooKeeper session per [`ZooKeeper`] value (clones share it), opened on first use and
//! opened again after it expires. Registrations and watches run as tokio tasks that outlive
//! connection losses and session expiries: a registration creates its node again in the new
//! session; a watch reads the children again and sends the difference. While ZooKeeper is
//! unreachable nothing is sent, so consumers keep the last known instances.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use zookeeper_client as zk;

use crate::{
    Change, Changes, Discovery, Instance, Registrar, Registration, RegistryError, curator,
};

const EPHEMERAL: zk::CreateOptions<'static> =
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
const PERSISTENT: zk::CreateOptions<'static> =
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

/// A ZooKeeper ensemble used as a registry. Cheap to clone; clones share one session.
#[derive(Clone)]
pub struct ZooKeeper {
    shared: Arc<Shared>,
}

struct Shared {
    hosts: String,
    base: String,
    session_timeout: Duration,
    client: Mutex<Option<zk::Client>>,
}

impl std::fmt::Debug for ZooKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZooKeeper")
            .field("hosts", &self.shared.hosts)
            .field("base", &self.shared.base)
            .field("session_timeout", &self.shared.session_timeout)
            .finish()
    }
}

impl ZooKeeper {
    /// A registry on `hosts` (`host:port,host:port`) under `base` (`/arpc`); nothing connects
    /// until it is used.
    pub fn new(hosts: &str, base: &str, session_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                hosts: hosts.to_owned(),
                base: base.trim_end_matches('/').to_owned(),
                session_timeout,
                client: Mutex::new(None),
            }),
        }
    }

    /// The ensemble's `host:port` list.
    pub fn hosts(&self) -> &str {
        &self.shared.hosts
    }

    /// The base path services are under.
    pub fn base(&self) -> &str {
        &self.shared.base
    }

    /// The session timeout asked for.
    pub fn session_timeout(&self) -> Duration {
        self.shared.session_timeout
    }

    /// The node path of an instance.
    pub fn instance_path(&self, service: &str, id: &str) -> String {
        format!("{}/{service}/{id}", self.shared.base)
    }

    /// The session's client (connecting a new session when there is none, or when the last
    /// one expired), for applications that keep their own state in this ensemble — the data
    /// hub's partition directory, say — on the session the registrations use.
    pub async fn client(&self) -> Result<zk::Client, RegistryError> {
        self.shared
            .client()
            .await
            .map_err(|e| RegistryError::ZooKeeper(e.to_string()))
    }

    /// The current session's id and password, when connected (for diagnostics, and for
    /// [`testing::expire_session`](crate::testing::expire_session) to end it as a server would).
    pub async fn session(&self) -> Option<zk::SessionInfo> {
        let guard = self.shared.client.lock().await;
        guard
            .as_ref()
            .filter(|c| !c.state().is_terminated())
            .map(|c| c.session().clone())
    }
}

impl Shared {
    /// The live session's client, connecting (a new session) when there is none.
    async fn client(&self) -> Result<zk::Client, zk::Error> {
        let mut guard = self.client.lock().await;
        if let Some(client) = guard.as_ref()
            && !client.state().is_terminated()
        {
            return Ok(client.clone());
        }
        *guard = None;
        let connecting = zk::Client::connector()
            .with_session_timeout(self.session_timeout)
            .with_fail_eagerly()
            .connect(&self.hosts);
        let client = tokio::time::timeout(self.session_timeout, connecting)
            .await
            .map_err(|_| zk::Error::Timeout)??;
        *guard = Some(client.clone());
        Ok(client)
    }
}

/// Exponential backoff between retries: 50 ms doubling to 2 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(50))
    }

    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
        d
    }
}

impl Registrar for ZooKeeper {
    fn register(&self, instance: Instance) -> Registration {
        let (stop_tx, stop_rx) = oneshot::channel();
        let (registered_tx, registered_rx) = watch::channel(false);
        let path = self.instance_path(&instance.service, &instance.id);
        let registered_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let data = curator::to_json(&instance, registered_at);
        let task = tokio::spawn(keep_registered(
            Arc::clone(&self.shared),
            path,
            data,
            stop_rx,
            registered_tx,
        ));
        Registration::new(stop_tx, task, registered_rx)
    }
}

/// Creates the node, creates it again whenever the session is lost, and deletes it when
/// told to stop.
async fn keep_registered(
    shared: Arc<Shared>,
    path: String,
    data: Vec<u8>,
    mut stop: oneshot::Receiver<()>,
    registered: watch::Sender<bool>,
) {
    let mut backoff = Backoff::new();
    loop {
        let attempt = tokio::select! {
            attempt = create_node(&shared, &path, &data) => attempt,
            _ = &mut stop => return,
        };
        let Ok(client) = attempt else {
            registered.send_replace(false);
            tokio::select! {
                () = tokio::time::sleep(backoff.next()) => continue,
                _ = &mut stop => return,
            }
        };
        registered.send_replace(true);
        backoff = Backoff::new();
        let mut states = client.state_watcher();
        let stopped = loop {
            if states.peek_state().is_terminated() {
                break false;
            }
            tokio::select! {
                state = states.changed() => if state.is_terminated() { break false },
                _ = &mut stop => break true,
            }
        };
        registered.send_replace(false);
        if stopped {
            // Bounded: if ZooKeeper is unreachable, the node goes with the session anyway.
            let _ = tokio::time::timeout(shared.session_timeout, client.delete(&path, None)).await;
            return;
        }
    }
}

/// Creates the ephemeral node (and its parents) in the current session.
async fn create_node(shared: &Shared, path: &str, data: &[u8]) -> Result<zk::Client, zk::Error> {
    let client = shared.client().await?;
    if let Some((parent, _)) = path.rsplit_once('/') {
        client.mkdir(parent, &PERSISTENT).await?;
    }
    match client.create(path, data, &EPHEMERAL).await {
        Ok(_) => Ok(client),
        Err(zk::Error::NodeExists) => {
            // Ours already (a retry that did succeed), or left by a session of ours that has
            // not timed out yet on the server: replace the latter, as Curator does.
            match client.get_data(path).await {
                Ok((_, stat)) if stat.ephemeral_owner == client.session_id().0 => {
                    return Ok(client);
                }
                Ok(_) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(e),
            }
            match client.delete(path, None).await {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(e) => return Err(e),
            }
            client.create(path, data, &EPHEMERAL).await?;
            Ok(client)
        }
        Err(e) => Err(e),
    }
}

impl Discovery for ZooKeeper {
    fn discover(&self, service: &str) -> Changes {
        let (tx, rx) = mpsc::channel(64);
        let dir = format!("{}/{service}", self.shared.base);
        tokio::spawn(watch_children(Arc::clone(&self.shared), dir, tx));
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|change| (change, rx))
        })
        .boxed()
    }
}

type Sender = mpsc::Sender<Result<Change, RegistryError>>;

/// Watches `dir`'s children and sends what changes, until the receiver goes away.
async fn watch_children(shared: Arc<Shared>, dir: String, tx: Sender) {
    let mut known: HashMap<String, Instance> = HashMap::new();
    let mut backoff = Backoff::new();
    loop {
        let round = tokio::select! {
            round = read_children(&shared, &dir, &mut known, &tx) => round,
            () = tx.closed() => return,
        };
        match round {
            Ok(watcher) => {
                backoff = Backoff::new();
                tokio::select! {
                    // Any event (children changed, node created, session ended) means: read
                    // again (in a new session if this one ended).
                    _ = watcher.changed() => {}
                    () = tx.closed() => return,
                }
            }
            // ZooKeeper unreachable: keep what is known, say nothing, try again later.
            Err(_) => tokio::select! {
                () = tokio::time::sleep(backoff.next()) => {}
                () = tx.closed() => return,
            },
        }
    }
}

/// Reads `dir`'s children, sends the difference from `known`, and returns a watcher for the
/// next change.
async fn read_children(
    shared: &Shared,
    dir: &str,
    known: &mut HashMap<String, Instance>,
    tx: &Sender,
) -> Result<zk::OneshotWatcher, zk::Error> {
    let client = shared.client().await?;
    let (children, watcher) = match client.list_and_watch_children(dir).await {
        Ok(listed) => listed,
        Err(zk::Error::NoNode) => {
            // No instance has ever registered: watch for the directory to appear.
            let (stat, watcher) = client.check_and_watch_stat(dir).await?;
            if stat.is_some() {
                // Created in between: read it right away.
                return Box::pin(read_children(shared, dir, known, tx)).await;
            }
            (Vec::new(), watcher)
        }
        Err(e) => return Err(e),
    };
    let gone: Vec<String> = known
        .keys()
        .filter(|id| !children.contains(id))
        .cloned()
        .collect();
    for id in gone {
        known.remove(&id);
        let _ = tx.send(Ok(Change::Remove(id))).await;
    }
    for child in children {
        if known.contains_key(&child) {
            continue;
        }
        match client.get_data(&format!("{dir}/{child}")).await {
            Ok((data, _)) => {
                // Not callable (no plain-text port, disabled, not Curator JSON): skipped,
                // not an error on the stream, which tower's balancers treat as fatal.
                if let Ok(instance) = curator::from_json(&data) {
                    known.insert(child.clone(), instance.clone());
                    let _ = tx.send(Ok(Change::Insert(child, instance))).await;
                }
            }
            // Gone between the listing and the read.
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(watcher)
}
