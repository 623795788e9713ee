//! A throwaway standalone ZooKeeper for tests, as Curator's
//! `TestingServer`: Debian's `zookeeper` package (`/usr/share/java/zookeeper.jar`, started
//! with `java … org.apache.zookeeper.server.ZooKeeperServerMain`) on a free 127.0.0.1 port,
//! with a temporary data directory and a short tick so sessions can expire in a second.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zookeeper_client as zk;

use crate::ZooKeeper;

/// Where Debian's package puts the server's jar (its manifest lists its dependencies).
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// A running standalone ZooKeeper; stopped (and its data removed) when dropped.
#[derive(Debug)]
pub struct TestingServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    tick: Duration,
}

/// The server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The package is not installed.
    #[error(
        "{ZOOKEEPER_JAR} is missing: install Debian's `zookeeper` package (bash .ci/test does)"
    )]
    NotInstalled,
    /// Starting or reaching it failed.
    #[error("ZooKeeper did not start: {0}")]
    Failed(String),
}

impl TestingServer {
    /// Starts a server with `tick` as its tick time (sessions may be as short as two ticks)
    /// and waits until it serves.
    pub fn start(tick: Duration) -> Result<Self, StartError> {
        if !std::path::Path::new(ZOOKEEPER_JAR).exists() {
            return Err(StartError::NotInstalled);
        }
        let port = free_port().map_err(|e| StartError::Failed(e.to_string()))?;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "arpc-zk-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("data")).map_err(|e| StartError::Failed(e.to_string()))?;
        let mut server = Self {
            child: None,
            port,
            dir,
            tick,
        };
        server.restart()?;
        Ok(server)
    }

    /// `127.0.0.1:port`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A `zk://` URL for this server with `base` and a session timeout.
    pub fn url(&self, base: &str, session_timeout: Duration) -> String {
        format!(
            "zk://{}{base}?session_timeout_ms={}",
            self.connect_string(),
            session_timeout.as_millis()
        )
    }

    /// Kills the server (SIGKILL): clients see the connection drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data (sessions and persistent nodes survive, as
    /// they do for a real restart), and waits until it serves.
    pub fn restart(&mut self) -> Result<(), StartError> {
        self.stop();
        let tick = self.tick.as_millis().max(1);
        let cfg = self.dir.join("zoo.cfg");
        let config = format!(
            "tickTime={tick}\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
             maxClientCnxns=0\nminSessionTimeout={}\nmaxSessionTimeout=60000\n\
             admin.enableServer=false\n4lw.commands.whitelist=srvr\n",
            self.dir.join("data").display(),
            self.port,
            2 * tick,
        );
        std::fs::write(&cfg, config).map_err(|e| StartError::Failed(e.to_string()))?;
        let log = std::fs::File::create(self.dir.join("zookeeper.log"))
            .map_err(|e| StartError::Failed(e.to_string()))?;
        let child = Command::new("java")
            .args([
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
            ])
            .arg(ZOOKEEPER_JAR)
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .map_err(|e| StartError::Failed(e.to_string()))?,
            )
            .stderr(log)
            .spawn()
            .map_err(|e| StartError::Failed(format!("cannot run java: {e}")))?;
        self.child = Some(child);
        let give_up = Instant::now() + Duration::from_secs(30);
        while Instant::now() < give_up {
            if self.serving() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.join("zookeeper.log")).unwrap_or_default();
        self.stop();
        Err(StartError::Failed(format!(
            "not serving after 30 s; log:\n{log}"
        )))
    }

    /// Whether the server answers `srvr` as serving (`ruok` answers before it serves).
    fn serving(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if s.write_all(b"srvr").is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.contains("Mode:")
    }
}

impl Drop for TestingServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port (bound, read and released; ZooKeeper binds it right after).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Ends `registry`'s current session as ZooKeeper does when a session times out, as Curator's
/// `KillSession` does: a second client attaches to the session and closes it, and the
/// registry's client then finds its session expired. Attaching moves the session to the
/// second connection, and the first client may move it back before the close arrives (then
/// the close fails), so this checks that the registry really lost the session and tries
/// again if not. Says why when it cannot.
pub async fn expire_session(registry: &ZooKeeper) -> Result<(), String> {
    let mut why = String::from("no attempt");
    for _ in 0..10 {
        let Some(session) = registry.session().await else {
            why = "the registry has no live session".into();
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let old = session.id();
        match zk::Client::connector()
            .with_session(session)
            .connect(registry.hosts())
            .await
        {
            // Dropping the last handle of a client closes its session.
            Ok(other) => drop(other),
            Err(e) => {
                why = format!("cannot attach to the session: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        let give_up = Instant::now() + Duration::from_secs(3);
        while Instant::now() < give_up {
            if registry.session().await.is_none_or(|s| s.id() != old) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        why = "the session survived the close (moved back first); retried".into();
    }
    Err(why)
}

/// The id of `registry`'s live session, if it has one.
pub async fn session_id(registry: &ZooKeeper) -> Option<i64> {
    registry.session().await.map(|s| s.id().0)
}

/// A node's data and the session that owns it (0 for a persistent node), for tests that
/// check what is in ZooKeeper.
pub async fn read_node(connect_string: &str, path: &str) -> Option<(Vec<u8>, i64)> {
    let client = zk::Client::connect(connect_string).await.ok()?;
    client
        .get_data(path)
        .await
        .ok()
        .map(|(data, stat)| (data, stat.ephemeral_owner))
}

/// Lists a node's children, for tests.
pub async fn list_children(connect_string: &str, path: &str) -> Option<Vec<String>> {
    let client = zk::Client::connect(connect_string).await.ok()?;
    client.list_children(path).await.ok()
}

/// Writes an instance node as another (Curator) client would: `json` at `path`, ephemeral to
/// the returned client's session (drop it to end the session).
pub async fn create_ephemeral(
    connect_string: &str,
    path: &str,
    json: &[u8],
) -> Result<zk::Client, zk::Error> {
    let client = zk::Client::connect(connect_string).await?;
    if let Some((parent, _)) = path.rsplit_once('/') {
        client
            .mkdir(
                parent,
                &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
            )
            .await?;
    }
    client
        .create(
            path,
            json,
            &zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all()),
        )
        .await?;
    Ok(client)
}
