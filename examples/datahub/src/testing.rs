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

/// Throwaway PostgreSQL clusters (feature `postgres`), from the server binaries of Debian's
/// `postgresql` package.
#[cfg(feature = "postgres")]
pub mod postgres {
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};
    use std::sync::atomic::{AtomicBool, Ordering};

    /// The superuser of every cluster (trust authentication on loopback: no password).
    pub const USER: &str = "hub";

    /// The system user that runs the server when the tests run as root (PostgreSQL refuses
    /// to run as root); Debian's `postgresql` package creates it.
    pub const RUN_AS: &str = "postgres";

    /// How long starting or stopping a server may take.
    const WAIT_SECS: &str = "30";

    /// A PostgreSQL cluster in a temporary directory, served on a free loopback port (and a
    /// Unix socket in that directory). Dropping it stops the server at once and removes the
    /// directory.
    ///
    /// The binaries are taken from `$DATAHUB_PG_BIN` when set, else from the newest
    /// `/usr/lib/postgresql/<version>/bin` that has `initdb` (Debian's layout). When the
    /// process runs as root, `initdb` and `pg_ctl` run as the `postgres` user through
    /// `runuser -u postgres --`, and the directory is handed to that user.
    #[derive(Debug)]
    pub struct Cluster {
        bin: PathBuf,
        dir: PathBuf,
        data: PathBuf,
        log: PathBuf,
        port: u16,
        run_as: Option<String>,
        running: AtomicBool,
    }

    /// The directory of the newest server binaries.
    pub fn bin_dir() -> Result<PathBuf, String> {
        if let Some(dir) = std::env::var_os("DATAHUB_PG_BIN") {
            let dir = PathBuf::from(dir);
            return if dir.join("initdb").is_file() {
                Ok(dir)
            } else {
                Err(format!("DATAHUB_PG_BIN={}: no initdb there", dir.display()))
            };
        }
        let root = Path::new("/usr/lib/postgresql");
        let entries = std::fs::read_dir(root).map_err(|e| {
            format!(
                "{}: {e} (install Debian's `postgresql` package, or set DATAHUB_PG_BIN)",
                root.display()
            )
        })?;
        entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let version: Vec<u32> = e
                    .file_name()
                    .to_str()?
                    .split('.')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .ok()?;
                let bin = e.path().join("bin");
                bin.join("initdb").is_file().then_some((version, bin))
            })
            .max()
            .map(|(_, bin)| bin)
            .ok_or_else(|| {
                format!(
                    "no {}/<version>/bin/initdb (install Debian's `postgresql` package, or set \
                     DATAHUB_PG_BIN)",
                    root.display()
                )
            })
    }

    fn is_root() -> bool {
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    fn id_of(flag: &str, user: &str) -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .map_err(|e| format!("id {flag} {user}: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                format!(
                    "no user `{user}` to run PostgreSQL as (running as root; Debian's \
                     `postgresql` package creates it): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            })
    }

    fn runuser() -> PathBuf {
        ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("runuser"))
    }

    fn check(what: &str, out: std::io::Result<Output>) -> Result<Output, String> {
        let out = out.map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "{what}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    impl Cluster {
        /// Creates a cluster in a fresh temporary directory (`initdb`: trust authentication,
        /// superuser [`USER`], UTF-8, C locale, no fsync while creating it) and starts it on
        /// a free port on 127.0.0.1 with `fsync` on; returns once it accepts connections.
        pub fn start() -> Result<Cluster, String> {
            let bin = bin_dir()?;
            let dir = std::env::temp_dir().join(format!(
                "datahub-pg-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            ));
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let run_as = is_root().then(|| RUN_AS.to_owned());
            let port = super::free_port().map_err(|e| format!("no free port: {e}"))?;
            let cluster = Cluster {
                bin,
                data: dir.join("data"),
                log: dir.join("server.log"),
                dir,
                port,
                run_as,
                running: AtomicBool::new(false),
            };
            // From here on, dropping `cluster` removes the directory.
            if let Some(user) = &cluster.run_as {
                let (uid, gid) = (id_of("-u", user)?, id_of("-g", user)?);
                std::os::unix::fs::chown(&cluster.dir, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {}: {e}", cluster.dir.display()))?;
            }
            check(
                "initdb",
                cluster
                    .server_command("initdb")
                    .arg("-D")
                    .arg(&cluster.data)
                    .args(["-A", "trust", "-U", USER, "-E", "UTF8", "--no-locale"])
                    .args(["--no-sync", "--no-instructions"])
                    .output(),
            )?;
            let settings = format!(
                "\n# datahub test cluster\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
                 unix_socket_directories = '{}'\nfsync = on\nsynchronous_commit = on\n\
                 shared_buffers = 64MB\nmax_connections = 100\n",
                cluster.dir.display()
            );
            let conf = cluster.data.join("postgresql.conf");
            let mut text =
                std::fs::read_to_string(&conf).map_err(|e| format!("{}: {e}", conf.display()))?;
            text.push_str(&settings);
            std::fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
            cluster.start_again()?;
            Ok(cluster)
        }

        /// A command running `program` from the server's binaries, as the server's user.
        fn server_command(&self, program: &str) -> Command {
            let path = self.bin.join(program);
            let mut cmd = match &self.run_as {
                Some(user) => {
                    let mut c = Command::new(runuser());
                    c.args(["-u", user, "--"]).arg(path);
                    c
                }
                None => Command::new(path),
            };
            // The server's user may not be able to enter the test's working directory.
            cmd.current_dir(&self.dir)
                .env("LC_ALL", "C")
                .env_remove("PGDATA")
                .env_remove("PGPORT")
                .env_remove("PGHOST");
            cmd
        }

        /// The server's log so far.
        pub fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        /// The port it listens on (127.0.0.1).
        pub fn port(&self) -> u16 {
            self.port
        }

        /// The cluster's directory (data, socket, log).
        pub fn dir(&self) -> &Path {
            &self.dir
        }

        /// The URL of database `db` (user [`USER`], no password).
        pub fn url(&self, db: &str) -> String {
            format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
        }

        /// Creates database `name` (letters, digits and `_`) and returns its URL.
        pub fn create_database(&self, name: &str) -> Result<String, String> {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("database name `{name}`: use letters, digits and _"));
            }
            check(
                &format!("createdb {name}"),
                Command::new(self.bin.join("createdb"))
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                    .args(["-U", USER, "-w", name])
                    .env("LC_ALL", "C")
                    .output(),
            )?;
            Ok(self.url(name))
        }

        /// Stops the server the way a crash would: `pg_ctl stop -m immediate` (the
        /// postmaster kills its children without a checkpoint; clients see their
        /// connections dropped; the next start replays the WAL). Returns once it is gone.
        pub fn stop(&self) -> Result<(), String> {
            self.pg_ctl_stop("immediate")
        }

        /// Stops the server cleanly: `pg_ctl stop -m fast` (active transactions are rolled
        /// back, clients disconnected, a checkpoint written).
        pub fn stop_fast(&self) -> Result<(), String> {
            self.pg_ctl_stop("fast")
        }

        fn pg_ctl_stop(&self, mode: &str) -> Result<(), String> {
            check(
                &format!("pg_ctl stop -m {mode}"),
                self.server_command("pg_ctl")
                    .arg("-D")
                    .arg(&self.data)
                    .args(["-m", mode, "-w", "-t", WAIT_SECS, "stop"])
                    .output(),
            )?;
            self.running.store(false, Ordering::Release);
            Ok(())
        }

        /// Starts the server (again) on the same data and port; returns once it accepts
        /// connections (`pg_ctl start -w`, up to 30 s), or the error with the server's log.
        pub fn start_again(&self) -> Result<(), String> {
            let r = check(
                "pg_ctl start",
                self.server_command("pg_ctl")
                    .arg("-D")
                    .arg(&self.data)
                    .arg("-l")
                    .arg(&self.log)
                    .args(["-w", "-t", WAIT_SECS, "start"])
                    .output(),
            );
            match r {
                Ok(_) => {
                    self.running.store(true, Ordering::Release);
                    Ok(())
                }
                Err(e) => Err(format!(
                    "{e}\n--- {} ---\n{}",
                    self.log.display(),
                    self.log()
                )),
            }
        }
    }

    impl Drop for Cluster {
        fn drop(&mut self) {
            // Also when a start timed out: a postmaster may be running without having said so.
            if self.running.load(Ordering::Acquire) || self.data.join("postmaster.pid").exists() {
                let _ = self.pg_ctl_stop("immediate");
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A throwaway Kafka-protocol broker: `tansu` (feature `kafka`), installed by the test
/// command with `cargo install tansu --version 0.6.0 --locked --features dynostore,libsql`
/// into `$ARPC_TOOLS/tansu-0.6.0` (default `~/.cache/arpc-tools`, which survives between
/// runs on one machine).
#[cfg(feature = "kafka")]
pub mod tansu {
    use std::io::{BufRead, BufReader};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// Where the broker keeps its data.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Storage {
        /// In memory: fast, gone when the broker dies.
        Memory,
        /// A SQLite file in the broker's directory (libsql): survives a SIGKILL, for tests
        /// that kill the broker and expect what it acknowledged to be there after a restart.
        Sqlite,
    }

    /// The `tansu` binary: `$DATAHUB_TANSU`, else `$ARPC_TOOLS/tansu-0.6.0/bin/tansu`.
    pub fn binary() -> PathBuf {
        if let Some(path) = std::env::var_os("DATAHUB_TANSU") {
            return PathBuf::from(path);
        }
        let tools = std::env::var_os("ARPC_TOOLS").map_or_else(
            || {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/arpc-tools")
            },
            PathBuf::from,
        );
        tools.join("tansu-0.6.0/bin/tansu")
    }

    /// A running broker on a free loopback port; killed (and its directory removed) when
    /// dropped.
    #[derive(Debug)]
    pub struct Broker {
        child: Option<Child>,
        port: u16,
        dir: PathBuf,
        storage: Storage,
    }

    impl Broker {
        /// Starts a broker and waits until it listens.
        pub fn start(storage: Storage) -> Result<Self, String> {
            let port = super::free_port().map_err(|e| e.to_string())?;
            let dir = std::env::temp_dir().join(format!(
                "datahub-tansu-{}-{port}-{}",
                std::process::id(),
                crate::clock::now_ms()
            ));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let mut broker = Self {
                child: None,
                port,
                dir,
                storage,
            };
            broker.spawn()?;
            Ok(broker)
        }

        fn spawn(&mut self) -> Result<(), String> {
            let bin = binary();
            let url = format!("tcp://127.0.0.1:{}", self.port);
            let storage = match self.storage {
                Storage::Memory => "memory://tansu/",
                Storage::Sqlite => "sqlite://tansu.db",
            };
            let mut child = Command::new(&bin)
                .arg("broker")
                .args(["--listener-url", &url])
                .args(["--advertised-listener-url", &url])
                .args(["--storage-engine", storage])
                .args(["--cluster-id", "datahub"])
                .current_dir(&self.dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    format!(
                        "cannot run {} ({e}): the test command installs it (see the README)",
                        bin.display()
                    )
                })?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.contains("ready in") {
                        let _ = tx.send(());
                    }
                }
            });
            self.child = Some(child);
            rx.recv_timeout(Duration::from_secs(30))
                .map_err(|_| format!("tansu did not get ready on port {}", self.port))
        }

        /// `127.0.0.1:port`.
        pub fn brokers(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }

        /// SIGKILL.
        pub fn kill(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }

        /// Starts it again on the same port (and, with `Storage::Sqlite`, the same data).
        pub fn restart(&mut self) -> Result<(), String> {
            self.kill();
            self.spawn()
        }
    }

    impl Drop for Broker {
        fn drop(&mut self) {
            self.kill();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
