//! The hello service: a greeting (a read: async), storing a note (a write: blocking), and two
//! methods that show what any gRPC client can ask of an arpc server (`Ping`, `Echo`: payload
//! sizes, status codes, deadlines, metadata). Used by the `hello` binary, arpc's integration
//! tests, the Python interop test and the benchmarks.

pub mod auth;

pub use self::auth::RequireTokenLayer;

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
    /// The address of the server that answered (which instance a balanced client reached).
    pub served_by: String,
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

/// A message with no fields.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty {}

/// What `Echo` should do.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EchoRequest {
    /// Any bytes (their size is what matters).
    pub payload: Vec<u8>,
    /// The size of the payload to answer with.
    pub response_size: u32,
    /// Answer with this status instead of a reply.
    pub status: Option<EchoStatus>,
    /// Milliseconds to wait before answering.
    pub delay_ms: u32,
}

/// A status for `Echo` to answer with.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EchoStatus {
    /// A gRPC status code (0 to 16).
    pub code: i32,
    /// Its message, sent as is (tabs, newlines and any Unicode survive).
    pub message: String,
}

/// `Echo`'s reply.
#[arpc::message]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EchoReply {
    /// `response_size` zero bytes.
    pub payload: Vec<u8>,
}

/// Echoed into the response headers when a request carries it.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// Echoed into the trailers when a request carries it (a binary header).
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The service, as a trait: this is the IDL.
#[arpc::service(package = "hello.v1")]
pub trait Greeter {
    /// A read: async, runs on the runtime, safe to retry.
    async fn say_hello(&self, request: HelloRequest) -> Result<HelloReply, arpc::Status>;

    /// A write: a plain `fn`, runs on the blocking pool. The response codec follows size:
    /// postcard below 1 KiB, JSON above (to show the policy, not because it is faster).
    #[arpc(codec(small = "postcard", large = "json", threshold = 1024))]
    fn store(&self, note: Note) -> Result<Stored, arpc::Status>;

    /// Answers at once with nothing: the cheapest round trip.
    async fn ping(&self, request: Empty) -> Result<Empty, arpc::Status>;

    /// Answers as the request says: after `delay_ms`, with `status` or with a payload of
    /// `response_size` bytes, echoing the `x-grpc-test-echo-initial` metadata into the
    /// response headers and `x-grpc-test-echo-trailing-bin` into the trailers (the names of
    /// the gRPC interop suite). Replies of 1 KiB or more go gzip-compressed to callers that
    /// read gzip (every gRPC client does by default).
    #[arpc(compress = "gzip")]
    async fn echo(&self, request: EchoRequest) -> Result<EchoReply, arpc::Status>;
}

/// The hello service's implementation: greetings, and notes in memory.
#[derive(Debug, Default)]
pub struct Hello {
    notes: Mutex<HashMap<String, String>>,
    served_by: String,
}

impl Hello {
    /// A service that names itself `served_by` (its address) in replies.
    pub fn serving_as(served_by: impl Into<String>) -> Self {
        Self {
            served_by: served_by.into(),
            ..Self::default()
        }
    }
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
            served_by: self.served_by.clone(),
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

    async fn ping(&self, _request: Empty) -> Result<Empty, arpc::Status> {
        Ok(Empty {})
    }

    async fn echo(&self, request: EchoRequest) -> Result<EchoReply, arpc::Status> {
        if let Some(ctx) = arpc::Context::current() {
            let mut meta = ctx.response_metadata();
            if let Some(v) = ctx.metadata().get(ECHO_INITIAL) {
                meta.headers.insert(ECHO_INITIAL, v.clone());
            }
            if let Some(v) = ctx.metadata().get_bin(ECHO_TRAILING) {
                meta.trailers.insert_bin(ECHO_TRAILING, v.clone());
            }
        }
        if request.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(request.delay_ms))).await;
        }
        if let Some(status) = request.status.filter(|s| s.code != 0) {
            return Err(arpc::Status::new(
                arpc::Code::from_i32(status.code),
                status.message,
            ));
        }
        // One byte over the server's response limit is enough to be refused with
        // RESOURCE_EXHAUSTED; more would only make the server allocate for nothing.
        let size =
            (request.response_size as usize).min(arpc::server::DEFAULT_MAX_MESSAGE_BYTES + 1);
        Ok(EchoReply {
            payload: vec![0; size],
        })
    }
}
