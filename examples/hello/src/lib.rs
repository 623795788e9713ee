//! The hello service: one read method (a greeting, async) and one write method (storing a
//! note, blocking), used by the `hello` binary, arpc's integration tests and its benchmarks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A greeting request.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct HelloRequest {
    /// Who to greet.
    pub name: String,
    /// Padding to make the reply larger (bytes), for codec-by-size demonstrations.
    pub reply_padding: u32,
    /// Milliseconds the handler sleeps before answering (for deadline tests).
    pub delay_ms: u32,
}

/// A greeting.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct HelloReply {
    /// The greeting.
    pub message: String,
    /// `reply_padding` bytes of text.
    pub padding: String,
}

/// A note to store.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Key.
    pub key: String,
    /// Text.
    pub text: String,
    /// Milliseconds the (blocking) handler takes, standing in for a database write.
    pub work_ms: u32,
}

/// What storing a note did.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// Notes now stored.
    pub count: u64,
}

/// The service, as a trait: this is the IDL.
#[arpc::service(package = "hello.v1")]
pub trait Greeter {
    /// A read: async, runs on the runtime, safe to retry.
    async fn say_hello(&self, request: HelloRequest) -> Result<HelloReply, arpc::Status>;

    /// A write: a plain `fn`, runs on the blocking pool. The response codec follows size:
    /// postcard below 1 KiB, JSON above (to show the policy, not because it is faster).
    #[arpc(codec(small = "postcard", large = "json", threshold = 1024))]
    fn store(&self, note: Note) -> Result<Stored, arpc::Status>;
}

/// The hello service's implementation: greetings, and notes in memory.
#[derive(Debug, Default)]
pub struct Hello {
    notes: Mutex<HashMap<String, String>>,
}

impl Greeter for Hello {
    async fn say_hello(&self, request: HelloRequest) -> Result<HelloReply, arpc::Status> {
        if request.name.is_empty() {
            return Err(arpc::Status::invalid_argument("name must not be empty"));
        }
        if request.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(request.delay_ms))).await;
        }
        Ok(HelloReply {
            message: format!("Hello, {}!", request.name),
            padding: "x".repeat(request.reply_padding as usize),
        })
    }

    fn store(&self, note: Note) -> Result<Stored, arpc::Status> {
        if note.work_ms > 0 {
            // Blocking on purpose: this is the database driver the pool protects reads from.
            std::thread::sleep(Duration::from_millis(u64::from(note.work_ms)));
        }
        let mut notes = self
            .notes
            .lock()
            .map_err(|_| arpc::Status::internal("note store poisoned"))?;
        notes.insert(note.key, note.text);
        Ok(Stored {
            count: notes.len() as u64,
        })
    }
}
