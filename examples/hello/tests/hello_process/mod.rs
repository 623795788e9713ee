//! A `hello serve` process on a free loopback port, for tests that need a real server process
//! (a foreign client to call, a process to SIGKILL).
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `hello serve`; SIGKILLed when dropped, so a failing test leaves nothing running.
pub struct HelloProcess {
    child: Child,
    /// The address it bound (`127.0.0.1:port`).
    pub addr: String,
}

impl HelloProcess {
    /// Starts `hello serve --addr 127.0.0.1:0 <extra>` and reads the address it prints.
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hello"))
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the hello binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut process = Self {
            child,
            addr: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the server prints its address");
        process.addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
            .to_owned();
        process
    }

    /// SIGKILL: no deregistration, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HelloProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
