//! Is `Auto` any good? A mixed workload of seven methods whose payloads differ, sent by real
//! arpc calls over loopback, once per sending configuration, in one process and one run:
//! `Auto`; every fixed (codec, compression) pair; JSON everywhere (the seed's JVM habit);
//! the seed's rule `BySize { small: postcard, large: json }`; and, after the fact, the
//! per-method **oracle**: the fixed pair that cost least for that method in this run.
//!
//! Cost of a call = the process's CPU time for it (client and server, both in this process:
//! encode, compress, the call, decompress, decode) + the request's wire bytes × a network
//! price. Two prices: loopback (0 ns per byte: bytes cost only the CPU that moves them) and a
//! priced 1 Gbit/s link (8 ns per byte). `Auto` runs once per price (its choices depend on
//! it); a fixed pair runs once and is priced both ways. The payload travels in the request;
//! the answer is a small ack, so each method's cost is the client's choice.
//!
//! Six methods send one message over and over; `varied` sends 32 different ones in turn (6 to
//! 28 KiB, each a different mix of numbers and JSON text, so some compress 5× and some hardly
//! at all), as a real method's messages differ from call to call.
//!
//! `shifting` changes shape half-way (numbers, then text of the same size): its second half
//! is measured in windows of 200 calls to see how soon `Auto` is back within 1.05× of the
//! new oracle.
//!
//! `cargo bench -p arpc-benches --bench adaptive` writes `target/arpc-bench/adaptive.json` and
//! the table in `benches/README.md`. CPU time is the sum of `/proc/self/task/*/schedstat`
//! (nanoseconds each thread ran), read around each block of calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arpc::client::{CallRequest, ClientMethod};
use arpc::codec::{
    AutoConfig, CodecKind, CodecPolicy, Compression, DEFAULT_COMPRESS_MIN_BYTES, NetworkPrice,
};
use arpc::{CallOptions, Status};
use arpc_benches::payloads::{self, DisplayScreen, NumericBatch, Rng, TextBatch};
use arpc_benches::report;
use futures_util::future::BoxFuture;
use serde_json::json;
use tokio::net::TcpListener;

/// What the server answers: how many items it got.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// Items in the request.
    pub items: u32,
}

/// A payload whose shape changes: numbers first, text later, about the same size.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Shifting {
    /// Measurements.
    pub values: Vec<f64>,
    /// A document.
    pub text: String,
}

#[arpc::service(package = "adaptive.v1")]
trait Mixed {
    async fn numbers_small(&self, batch: NumericBatch) -> Result<Ack, Status>;
    async fn numbers_large(&self, batch: NumericBatch) -> Result<Ack, Status>;
    async fn text_small(&self, batch: TextBatch) -> Result<Ack, Status>;
    async fn text_large(&self, batch: TextBatch) -> Result<Ack, Status>;
    async fn screen(&self, screen: DisplayScreen) -> Result<Ack, Status>;
    async fn varied(&self, varied: Shifting) -> Result<Ack, Status>;
    async fn shifting(&self, shifting: Shifting) -> Result<Ack, Status>;
}

/// Opaque bytes: a message whose codec work is a copy, to measure the transport.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
pub struct Opaque {
    /// The bytes.
    pub data: Vec<u8>,
}

/// A sink for opaque bytes (protobuf, the default policy).
#[arpc::service(package = "adaptive.v1")]
trait Sink {
    async fn put(&self, opaque: Opaque) -> Result<Ack, Status>;
}

struct Server;

impl Sink for Server {
    async fn put(&self, opaque: Opaque) -> Result<Ack, Status> {
        Ok(count(opaque.data.len()))
    }
}

fn count(n: usize) -> Ack {
    Ack {
        items: u32::try_from(n).unwrap_or(u32::MAX),
    }
}

impl Mixed for Server {
    async fn numbers_small(&self, batch: NumericBatch) -> Result<Ack, Status> {
        Ok(count(batch.samples.len()))
    }
    async fn numbers_large(&self, batch: NumericBatch) -> Result<Ack, Status> {
        Ok(count(batch.samples.len()))
    }
    async fn text_small(&self, batch: TextBatch) -> Result<Ack, Status> {
        Ok(count(batch.records.len()))
    }
    async fn text_large(&self, batch: TextBatch) -> Result<Ack, Status> {
        Ok(count(batch.records.len()))
    }
    async fn screen(&self, screen: DisplayScreen) -> Result<Ack, Status> {
        Ok(count(screen.items.len()))
    }
    async fn varied(&self, varied: Shifting) -> Result<Ack, Status> {
        Ok(count(varied.values.len() + varied.text.len()))
    }
    async fn shifting(&self, shifting: Shifting) -> Result<Ack, Status> {
        Ok(count(shifting.values.len() + shifting.text.len()))
    }
}

// ---------------------------------------------------------------------------------------
// Measuring.

/// A transport that counts the request bytes it sends (framed, as on the wire).
#[derive(Clone)]
struct Counting {
    inner: arpc::Channel,
    bytes: Arc<AtomicU64>,
    /// Calls per method and (codec, compression) pair they were sent in, from each call's
    /// `Response::{request_codec, request_compression}`.
    sent_in: Arc<[[AtomicU64; PAIRS]; METHODS.len()]>,
}

/// (codec, compression) pairs a request can travel in.
const PAIRS: usize = CodecKind::ALL.len() * Compression::ALL.len();

fn pair_index(codec: CodecKind, compression: Compression) -> usize {
    let z = Compression::ALL
        .iter()
        .position(|c| *c == compression)
        .unwrap_or(0);
    codec as usize * Compression::ALL.len() + z
}

impl tower::Service<CallRequest> for Counting {
    type Response = http::Response<arpc::client::ResponseBody>;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Self::Response, Status>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Status>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: CallRequest) -> Self::Future {
        self.bytes
            .fetch_add(request.body().len() as u64, Ordering::Relaxed);
        tower::Service::call(&mut self.inner, request)
    }
}

impl Counting {
    /// How `m`'s calls were sent (warm-up included): the three pairs used most, and how many
    /// calls went in the other pairs.
    fn sent_in_summary(&self, m: Method) -> String {
        let mut pairs: Vec<(String, u64)> = Vec::new();
        for codec in CodecKind::ALL {
            for z in Compression::ALL {
                let n = self.sent_in[m as usize][pair_index(codec, z)].load(Ordering::Relaxed);
                if n > 0 {
                    pairs.push((format!("{codec}+{z}"), n));
                }
            }
        }
        pairs.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let all: u64 = pairs.iter().map(|(_, n)| n).sum();
        let shown: Vec<String> = pairs
            .iter()
            .take(3)
            .map(|(pair, n)| format!("{pair} {n}"))
            .collect();
        format!(
            "{} of {all} calls; {} in the other {} pairs",
            shown.join(", "),
            pairs.iter().skip(3).map(|(_, n)| n).sum::<u64>(),
            pairs.len().saturating_sub(3)
        )
    }
}

/// CPU nanoseconds and wire bytes of a block of calls.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    calls: u64,
    cpu_ns: u64,
    bytes: u64,
    wall_ns: u64,
}

impl Spent {
    #[allow(clippy::cast_precision_loss)]
    fn per_call(&self, price: f64) -> f64 {
        (self.cpu_ns as f64 + self.bytes as f64 * price) / self.calls.max(1) as f64
    }

    fn add(&mut self, other: Spent) {
        self.calls += other.calls;
        self.cpu_ns += other.cpu_ns;
        self.bytes += other.bytes;
        self.wall_ns += other.wall_ns;
    }
}

// ---------------------------------------------------------------------------------------
// The workload.

/// The seven methods, their payloads and how many calls each gets. `shifting` comes last:
/// the others are steady.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    NumbersSmall,
    NumbersLarge,
    TextSmall,
    TextLarge,
    Screen,
    Varied,
    Shifting,
}

const METHODS: [Method; 7] = [
    Method::NumbersSmall,
    Method::NumbersLarge,
    Method::TextSmall,
    Method::TextLarge,
    Method::Screen,
    Method::Varied,
    Method::Shifting,
];

/// The methods whose payloads keep their shape: all but `shifting`.
const STEADY: usize = METHODS.len() - 1;

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::NumbersSmall => "numbers 1 KiB",
            Method::NumbersLarge => "numbers 256 KiB",
            Method::TextSmall => "text 1 KiB",
            Method::TextLarge => "text 64 KiB",
            Method::Screen => "screen 16 KiB",
            Method::Varied => "varied 6–28 KiB (each call another mix of numbers and text)",
            Method::Shifting => "shifting 16 KiB (numbers, then JSON text)",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Method::NumbersSmall => "/adaptive.v1.Mixed/NumbersSmall",
            Method::NumbersLarge => "/adaptive.v1.Mixed/NumbersLarge",
            Method::TextSmall => "/adaptive.v1.Mixed/TextSmall",
            Method::TextLarge => "/adaptive.v1.Mixed/TextLarge",
            Method::Screen => "/adaptive.v1.Mixed/Screen",
            Method::Varied => "/adaptive.v1.Mixed/Varied",
            Method::Shifting => "/adaptive.v1.Mixed/Shifting",
        }
    }
}

/// Calls per method: warm-up (not counted), then measured; `shifting` runs its measured
/// calls half as numbers and half as text.
#[derive(Clone, Copy)]
struct Plan {
    warmup: usize,
    calls: usize,
    large_calls: usize,
    rounds: usize,
}

struct Payloads {
    numbers_small: NumericBatch,
    numbers_large: NumericBatch,
    text_small: TextBatch,
    text_large: TextBatch,
    screen: DisplayScreen,
    /// Messages that differ from call to call, as a real method's do: each a different mix
    /// of numbers (barely compressible) and JSON text (about 5× compressible), of a different
    /// size.
    varied: Vec<Shifting>,
    numbers_shape: Shifting,
    text_shape: Shifting,
}

impl Payloads {
    fn new() -> Self {
        let mut r = Rng::new(7);
        let values: Vec<f64> = (0..2000).map(|_| r.unit() * 1.0e6).collect();
        // A document of records as JSON (a log line, an event stored as text): about as long
        // as the numbers, and far more compressible.
        let text = serde_json::to_string(&payloads::text_at(14 * 1024)).unwrap_or_default();
        let document = serde_json::to_string(&payloads::text_at(32 * 1024)).unwrap_or_default();
        let varied = (0..VARIED)
            .map(|_| {
                // 6 to 28 KiB, of which a share from none to all is numbers.
                let size = 6 * 1024 + usize::try_from(r.below(22 * 1024)).unwrap_or(0);
                let numbers = size * usize::try_from(r.below(101)).unwrap_or(0) / 100;
                let from = usize::try_from(r.below(4 * 1024)).unwrap_or(0);
                let text = text_slice(&document, from, size - numbers).to_owned();
                Shifting {
                    values: (0..numbers / 9).map(|_| r.unit() * 1.0e6).collect(),
                    text,
                }
            })
            .collect();
        Self {
            numbers_small: payloads::numeric_at(1024),
            numbers_large: payloads::numeric_at(256 * 1024),
            text_small: payloads::text_at(1024),
            text_large: payloads::text_at(64 * 1024),
            screen: payloads::display_at(16 * 1024),
            varied,
            numbers_shape: Shifting {
                values,
                text: String::new(),
            },
            text_shape: Shifting {
                values: Vec::new(),
                text,
            },
        }
    }
}

/// Distinct messages of `varied`, sent in turn.
const VARIED: usize = 32;

/// About `len` bytes of `text` from about `from`, cut at character boundaries.
fn text_slice(text: &str, from: usize, len: usize) -> &str {
    let boundary = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = boundary(from);
    &text[start..boundary(start + len)]
}

impl Payloads {
    /// The protobuf size of method `m`'s payload (what `Auto` sorts by).
    fn estimate(&self, m: Method) -> usize {
        use arpc::message::Message as _;
        match m {
            Method::NumbersSmall => self.numbers_small.proto_len(),
            Method::NumbersLarge => self.numbers_large.proto_len(),
            Method::TextSmall => self.text_small.proto_len(),
            Method::TextLarge => self.text_large.proto_len(),
            Method::Screen => self.screen.proto_len(),
            Method::Varied => self.varied[0].proto_len(),
            Method::Shifting => self.text_shape.proto_len(),
        }
    }
}

/// How requests are sent in one run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Config {
    Fixed(CodecKind, Compression),
    BySize,
    Auto(f64),
}

impl Config {
    fn name(self) -> String {
        match self {
            Config::Fixed(c, z) => format!("{c}+{z}"),
            Config::BySize => "BySize(postcard, json, 16 KiB)".into(),
            Config::Auto(p) => format!("Auto @ {p} ns/B"),
        }
    }

    fn method(self, m: Method) -> ClientMethod {
        let (policy, compression) = match self {
            Config::Fixed(codec, z) => (CodecPolicy::Fixed(codec), z),
            Config::BySize => (
                CodecPolicy::BySize {
                    small: CodecKind::Postcard,
                    large: CodecKind::Json,
                    threshold_bytes: 16 * 1024,
                },
                Compression::Identity,
            ),
            Config::Auto(price) => (
                CodecPolicy::Auto(AutoConfig::default().network_ns_per_byte(price)),
                Compression::Identity,
            ),
        };
        ClientMethod::new(m.path(), policy).compression(compression, DEFAULT_COMPRESS_MIN_BYTES)
    }
}

/// One configuration's measurements: per method, and `shifting`'s halves and windows.
#[derive(Debug, Default, Clone)]
struct Run {
    per_method: Vec<Spent>,
    shift_before: Spent,
    shift_after: Spent,
    windows_after: Vec<Spent>,
    /// `Auto`'s choice for the text shape at the end of each window.
    choices_after: Vec<Option<(CodecKind, Compression)>>,
    /// `Auto`'s choice before the shape changed.
    choice_before: Option<(CodecKind, Compression)>,
}

const WINDOW: usize = 200;

async fn call<Req: arpc::Message>(t: &Counting, which: Method, m: &ClientMethod, req: &Req) {
    let response = arpc::client::unary::<_, Req, Ack>(t, m, req, CallOptions::default())
        .await
        .expect("call");
    t.sent_in[which as usize][pair_index(response.request_codec, response.request_compression)]
        .fetch_add(1, Ordering::Relaxed);
}

/// Callers in flight at once, as on a busy service: the per-call cost of waking threads is
/// shared, as it is there.
const CALLERS: usize = 16;

async fn block<Req: arpc::Message>(
    t: &Counting,
    which: Method,
    m: &ClientMethod,
    req: &Req,
    n: usize,
) -> Spent {
    block_of(t, which, m, std::slice::from_ref(req), n).await
}

/// `n` calls of `m` sending the messages of `reqs` in turn (each caller from its own place).
async fn block_of<Req: arpc::Message>(
    t: &Counting,
    which: Method,
    m: &ClientMethod,
    reqs: &[Req],
    n: usize,
) -> Spent {
    let bytes0 = t.bytes.load(Ordering::Relaxed);
    let cpu0 = report::process_cpu_ns();
    let wall = Instant::now();
    let callers = (0..CALLERS.min(n.max(1))).map(|i| {
        let share = n / CALLERS.min(n.max(1)) + usize::from(i < n % CALLERS.min(n.max(1)));
        async move {
            for j in 0..share {
                call(t, which, m, &reqs[(i * 7 + j) % reqs.len()]).await;
            }
        }
    });
    futures_util::future::join_all(callers).await;
    Spent {
        calls: n as u64,
        cpu_ns: report::process_cpu_ns().saturating_sub(cpu0),
        bytes: t.bytes.load(Ordering::Relaxed) - bytes0,
        wall_ns: u64::try_from(wall.elapsed().as_nanos()).unwrap_or(u64::MAX),
    }
}

/// The process CPU (client and server) per request byte that arpc's transport spends over
/// loopback: protobuf `bytes` (whose codec work is a copy) sent at 1 KiB and at 64 KiB, the
/// slope between the two; the median of five rounds. What `AutoConfig::transport_ns_per_byte`
/// stands for.
async fn transport_ns_per_byte(addr: std::net::SocketAddr, calls: usize) -> f64 {
    let client = SinkClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let per_call = |size: usize| {
        let client = client.clone();
        async move {
            let opaque = Opaque {
                data: (0..size).map(|i| i.to_le_bytes()[0] ^ 0x5a).collect(),
            };
            let share = calls.div_ceil(CALLERS);
            let cpu0 = report::process_cpu_ns();
            let callers = (0..CALLERS).map(|_| async {
                for _ in 0..share {
                    client.put(opaque.clone()).await.expect("put");
                }
            });
            futures_util::future::join_all(callers).await;
            #[allow(clippy::cast_precision_loss)]
            let per =
                report::process_cpu_ns().saturating_sub(cpu0) as f64 / (share * CALLERS) as f64;
            per
        }
    };
    let (small, large) = (1024, 64 * 1024);
    per_call(large).await; // warm-up
    let mut slopes = Vec::new();
    for _ in 0..5 {
        let a = per_call(small).await;
        let b = per_call(large).await;
        #[allow(clippy::cast_precision_loss)]
        slopes.push((b - a) / (large - small) as f64);
    }
    slopes.sort_by(f64::total_cmp);
    slopes[slopes.len() / 2]
}

/// One configuration: its client methods (kept across rounds, so `Auto` keeps learning) and
/// its transport.
struct Subject {
    config: Config,
    methods: Vec<ClientMethod>,
    transport: Counting,
}

impl Subject {
    async fn new(config: Config, addr: std::net::SocketAddr) -> Self {
        let channel = arpc::Channel::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        Self {
            config,
            methods: METHODS.iter().map(|m| config.method(*m)).collect(),
            transport: Counting {
                inner: channel,
                bytes: Arc::default(),
                sent_in: Arc::new(std::array::from_fn(|_| {
                    std::array::from_fn(|_| AtomicU64::new(0))
                })),
            },
        }
    }

    /// `n` calls of method `m` (not `shifting`).
    async fn calls(&self, m: Method, p: &Payloads, n: usize) -> Spent {
        let (t, method) = (&self.transport, &self.methods[m as usize]);
        match m {
            Method::NumbersSmall => block(t, m, method, &p.numbers_small, n).await,
            Method::NumbersLarge => block(t, m, method, &p.numbers_large, n).await,
            Method::TextSmall => block(t, m, method, &p.text_small, n).await,
            Method::TextLarge => block(t, m, method, &p.text_large, n).await,
            Method::Screen => block(t, m, method, &p.screen, n).await,
            Method::Varied => block_of(t, m, method, &p.varied, n).await,
            Method::Shifting => block(t, m, method, &p.numbers_shape, n).await,
        }
    }

    /// `shifting`: `n` calls of numbers, then `n` of text in windows.
    async fn shift(&self, p: &Payloads, warmup: usize, n: usize, run: &mut Run) {
        let (t, method) = (&self.transport, &self.methods[Method::Shifting as usize]);
        block(t, Method::Shifting, method, &p.numbers_shape, warmup).await;
        run.shift_before = block(t, Method::Shifting, method, &p.numbers_shape, n).await;
        run.choice_before = method
            .selector()
            .auto()
            .and_then(|a| a.choice(p.estimate(Method::Shifting)));
        let mut after = Spent::default();
        let size = p.estimate(Method::Shifting);
        for _ in 0..n.div_ceil(WINDOW) {
            let w = block(t, Method::Shifting, method, &p.text_shape, WINDOW).await;
            run.windows_after.push(w);
            run.choices_after
                .push(method.selector().auto().and_then(|a| a.choice(size)));
            after.add(w);
        }
        run.shift_after = after;
    }
}

/// Runs every subject: warm-up, then `rounds` rounds in which each subject in turn makes its
/// calls of each method (so that the machine's drift spreads over all of them), then the
/// shape change of `shifting`. Per method, the median round.
async fn run_all(subjects: &[Subject], p: &Payloads, plan: Plan) -> Vec<Run> {
    let calls_of = |m: Method| {
        if m == Method::NumbersLarge {
            plan.large_calls
        } else {
            plan.calls
        }
    };
    for s in subjects {
        for m in &METHODS[..STEADY] {
            let warm = plan.warmup * calls_of(*m) / plan.calls.max(1);
            s.calls(*m, p, warm.max(1)).await;
        }
    }
    let mut rounds: Vec<Vec<Vec<Spent>>> = vec![vec![Vec::new(); STEADY]; subjects.len()];
    for _ in 0..plan.rounds {
        for (i, s) in subjects.iter().enumerate() {
            for m in &METHODS[..STEADY] {
                let spent = s.calls(*m, p, calls_of(*m) / plan.rounds).await;
                rounds[i][*m as usize].push(spent);
            }
        }
    }
    let mut runs = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        let mut run = Run::default();
        for per_round in &rounds[i] {
            let mut v = per_round.clone();
            v.sort_by(|a, b| a.per_call(0.0).total_cmp(&b.per_call(0.0)));
            let median = v[v.len() / 2];
            // The median round's cost per call, over all the rounds' calls.
            let calls: u64 = v.iter().map(|x| x.calls).sum();
            let scale = calls / median.calls.max(1);
            run.per_method.push(Spent {
                calls,
                cpu_ns: median.cpu_ns * scale,
                bytes: median.bytes * scale,
                wall_ns: v.iter().map(|x| x.wall_ns).sum(),
            });
        }
        s.shift(p, plan.warmup, plan.calls, &mut run).await;
        let mut both = run.shift_before;
        both.add(run.shift_after);
        run.per_method.push(both);
        runs.push(run);
    }
    runs
}

// ---------------------------------------------------------------------------------------
// Reporting.

const PRICES: [(&str, f64); 2] = [
    ("loopback", NetworkPrice::LOOPBACK),
    ("1 Gbit/s", NetworkPrice::CROSS_ZONE),
];

fn fixed_pairs() -> Vec<Config> {
    let mut out = Vec::new();
    for codec in CodecKind::ALL {
        for z in Compression::CHOSEN_BY_AUTO {
            out.push(Config::Fixed(codec, z));
        }
    }
    out
}

/// Cost of the whole workload (ns), per method cost × its calls.
fn total(run: &Run, price: f64) -> f64 {
    run.per_method
        .iter()
        .map(|s| s.per_call(price) * s.calls as f64)
        .sum()
}

struct Priced {
    label: &'static str,
    price: f64,
    auto: f64,
    oracle: f64,
    json: f64,
    by_size: f64,
    oracle_pairs: Vec<String>,
    auto_per_method: Vec<f64>,
    oracle_per_method: Vec<f64>,
    recovery_calls: Option<usize>,
    window_recovery: Option<usize>,
    before_pair: Option<(CodecKind, Compression)>,
    after_pair: Option<(CodecKind, Compression)>,
    new_oracle: String,
    auto_calls_per_s: f64,
    json_calls_per_s: f64,
}

#[allow(clippy::cast_precision_loss)]
fn calls_per_s(run: &Run) -> f64 {
    let calls: u64 = run.per_method.iter().map(|s| s.calls).sum();
    let wall: u64 = run.per_method.iter().map(|s| s.wall_ns).sum();
    calls as f64 * 1e9 / wall.max(1) as f64
}

fn priced(
    label: &'static str,
    price: f64,
    fixed: &[(Config, Run)],
    by_size: &Run,
    auto: &Run,
) -> Priced {
    let mut oracle = 0.0;
    let mut oracle_pairs = Vec::new();
    let mut oracle_per_method = Vec::new();
    for (i, m) in METHODS.iter().enumerate() {
        let (best, cost) = fixed
            .iter()
            .map(|(c, r)| (*c, r.per_method[i].per_call(price)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("fixed pairs");
        oracle += cost * auto.per_method[i].calls as f64;
        oracle_pairs.push(format!("{}: {}", m.name(), best.name()));
        oracle_per_method.push(cost);
    }
    let json = fixed
        .iter()
        .find(|(c, _)| *c == Config::Fixed(CodecKind::Json, Compression::Identity))
        .map(|(_, r)| r)
        .expect("json");
    // The new oracle after the shape change: the best fixed pair on the text half.
    let (new_best, new_cost) = fixed
        .iter()
        .map(|(c, r)| (*c, r.shift_after.per_call(price)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("fixed pairs");
    // Back when the pair Auto sends in costs, as a fixed pair on the text half, at most
    // 1.05× the new oracle (the fixed pairs' costs come from all their calls: steadier than
    // a window of Auto's own).
    let fixed_after = |pair: (CodecKind, Compression)| {
        fixed
            .iter()
            .find(|(c, _)| *c == Config::Fixed(pair.0, pair.1))
            .map(|(_, r)| r.shift_after.per_call(price))
    };
    let recovery_calls = auto
        .choices_after
        .iter()
        .position(|c| {
            c.and_then(fixed_after)
                .is_some_and(|cost| cost <= 1.05 * new_cost)
        })
        .map(|i| (i + 1) * WINDOW);
    let window_recovery = auto
        .windows_after
        .iter()
        .position(|w| w.per_call(price) <= 1.05 * new_cost)
        .map(|i| (i + 1) * WINDOW);
    Priced {
        label,
        price,
        auto: total(auto, price),
        oracle,
        json: total(json, price),
        by_size: total(by_size, price),
        oracle_pairs,
        auto_per_method: auto.per_method.iter().map(|s| s.per_call(price)).collect(),
        oracle_per_method,
        recovery_calls,
        window_recovery,
        before_pair: auto.choice_before,
        after_pair: auto.choices_after.last().copied().flatten(),
        new_oracle: new_best.name(),
        auto_calls_per_s: calls_per_s(auto),
        json_calls_per_s: calls_per_s(json),
    }
}

fn markdown(results: &[Priced], machine: &str, plan: Plan, transport: f64) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Measured on {machine}. {CALLERS} callers in flight; per method {} warm-up calls, then {} \
         measured in {} rounds over all configurations ({} for numbers 256 KiB; the median round \
         counts); `shifting` then sends {} calls of numbers and {} of text. Cost = CPU time of \
         the process (client and server) + request wire bytes × price. arpc's transport spent \
         {transport:.2} ns of CPU per request byte in this run (protobuf bytes, 1 KiB against \
         64 KiB; `AutoConfig::transport_ns_per_byte` defaults to 1.5).\n\n",
        plan.warmup, plan.calls, plan.rounds, plan.large_calls, plan.calls, plan.calls
    ));
    s.push_str("| price | Auto / oracle | Auto / JSON everywhere | BySize / oracle | after the shape change: Auto sends in a pair within 1.05× of the new oracle | calls/s Auto / JSON |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    let pair =
        |p: Option<(CodecKind, Compression)>| p.map_or("-".to_owned(), |(c, z)| format!("{c}+{z}"));
    for r in results {
        let recovery = r.recovery_calls.map_or("not within the run".to_owned(), |c| {
            format!(
                "after {c} calls ({} → {}; new oracle {}; Auto's own cost per {WINDOW}-call window within 1.05× after {})",
                pair(r.before_pair),
                pair(r.after_pair),
                r.new_oracle,
                r.window_recovery
                    .map_or("-".to_owned(), |w| format!("{w} calls"))
            )
        });
        s.push_str(&format!(
            "| {} ({} ns/B) | **{:.3}** | **{:.3}** | {:.3} | {} | {:.0} / {:.0} |\n",
            r.label,
            r.price,
            r.auto / r.oracle,
            r.auto / r.json,
            r.by_size / r.oracle,
            recovery,
            r.auto_calls_per_s,
            r.json_calls_per_s,
        ));
    }
    for r in results {
        s.push_str(&format!(
            "\nCost per call at {} ({} ns/B): Auto against the oracle's pair\n\n| method | oracle pair | oracle | Auto | Auto / oracle |\n|---|---|---|---|---|\n",
            r.label, r.price
        ));
        for (i, m) in METHODS.iter().enumerate() {
            let pair = r.oracle_pairs[i].split(": ").nth(1).unwrap_or("");
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.3} |\n",
                m.name(),
                pair,
                report::fmt_ns(r.oracle_per_method[i]),
                report::fmt_ns(r.auto_per_method[i]),
                r.auto_per_method[i] / r.oracle_per_method[i],
            ));
        }
    }
    s
}

fn main() {
    let bench = report::is_bench_run();
    let plan = if bench {
        let calls = std::env::var("ADAPTIVE_CALLS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        Plan {
            warmup: 400,
            calls,
            large_calls: calls / 8,
            rounds: 10,
        }
    } else {
        // The smoke run of `cargo test`: every configuration, a few calls.
        Plan {
            warmup: 4,
            calls: 2 * WINDOW,
            large_calls: 4,
            rounds: 1,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let payloads = Payloads::new();
    let (fixed, by_size, autos, transport) = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(
            arpc::Server::builder()
                .add_service(MixedServer::new(Server))
                .add_service(SinkServer::new(Server))
                .serve_with_incoming(listener, std::future::pending()),
        );
        let transport = transport_ns_per_byte(addr, plan.calls / 2).await;
        println!("transport: {transport:.2} ns of CPU per request byte");
        let mut configs = fixed_pairs();
        configs.push(Config::BySize);
        configs.extend(PRICES.iter().map(|(_, price)| Config::Auto(*price)));
        let mut subjects = Vec::new();
        for config in configs {
            subjects.push(Subject::new(config, addr).await);
        }
        let runs = run_all(&subjects, &payloads, plan).await;
        let mut fixed = Vec::new();
        let mut by_size = Run::default();
        let mut autos = Vec::new();
        for (s, r) in subjects.iter().zip(runs) {
            eprintln!(
                "{:<20} {}",
                s.config.name(),
                r.per_method
                    .iter()
                    .map(|x| format!(
                        "{:>9.0}ns {:>7}B",
                        x.per_call(0.0),
                        x.bytes / x.calls.max(1)
                    ))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if let Config::Auto(_) = s.config {
                for (m, method) in METHODS.iter().zip(&s.methods) {
                    let Some(auto) = method.selector().auto() else {
                        continue;
                    };
                    let size = payloads.estimate(*m);
                    let costs: Vec<String> = auto
                        .costs(size)
                        .iter()
                        .take(if *m == Method::NumbersLarge { 12 } else { 4 })
                        .map(|c| {
                            format!(
                                "{}+{} {:.2}+{:.2}w ({})",
                                c.codec,
                                c.compression,
                                c.cpu_ns_per_byte,
                                c.wire_per_byte,
                                c.samples
                            )
                        })
                        .collect();
                    eprintln!(
                        "  {}: switches {}; {}; sent in {}",
                        m.name(),
                        auto.switches(size),
                        costs.join(", "),
                        s.transport.sent_in_summary(*m)
                    );
                }
            }
            match s.config {
                Config::Fixed(..) => fixed.push((s.config, r)),
                Config::BySize => by_size = r,
                Config::Auto(_) => autos.push(r),
            }
        }
        (fixed, by_size, autos, transport)
    });
    let results: Vec<Priced> = PRICES
        .iter()
        .zip(&autos)
        .map(|((label, price), auto)| priced(label, *price, &fixed, &by_size, auto))
        .collect();
    for r in &results {
        println!(
            "{}: Auto/oracle {:.3}, Auto/JSON {:.3}, BySize/oracle {:.3}, recovery {:?} calls (new oracle {}); oracle: {}",
            r.label,
            r.auto / r.oracle,
            r.auto / r.json,
            r.by_size / r.oracle,
            r.recovery_calls,
            r.new_oracle,
            r.oracle_pairs.join(", ")
        );
    }
    if !bench {
        return;
    }
    let machine = report::machine();
    let value = json!({
        "machine": machine,
        "warmup": plan.warmup,
        "calls": plan.calls,
        "large_calls": plan.large_calls,
        "transport_ns_per_byte": transport,
        "prices": results.iter().map(|r| json!({
            "label": r.label,
            "ns_per_byte": r.price,
            "auto_ns": r.auto,
            "oracle_ns": r.oracle,
            "json_everywhere_ns": r.json,
            "by_size_ns": r.by_size,
            "auto_over_oracle": r.auto / r.oracle,
            "auto_over_json": r.auto / r.json,
            "recovery_calls": r.recovery_calls,
            "window_recovery_calls": r.window_recovery,
            "new_oracle": r.new_oracle,
            "oracle_pairs": r.oracle_pairs,
            "auto_per_method_ns": r.auto_per_method,
            "oracle_per_method_ns": r.oracle_per_method,
            "auto_calls_per_s": r.auto_calls_per_s,
            "json_calls_per_s": r.json_calls_per_s,
        })).collect::<Vec<_>>(),
        "fixed": fixed.iter().map(|(c, r)| json!({
            "pair": c.name(),
            "per_method": r.per_method.iter().map(|s| json!({
                "calls": s.calls, "cpu_ns": s.cpu_ns, "bytes": s.bytes, "wall_ns": s.wall_ns,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    match report::write_json("adaptive", &value) {
        Ok(path) => println!("wrote {}", path.display()),
        Err(e) => {
            eprintln!("could not write results: {e}");
            std::process::exit(1);
        }
    }
    if let Err(e) =
        report::splice_readme("adaptive", &markdown(&results, &machine, plan, transport))
    {
        eprintln!("could not update benches/README.md: {e}");
        std::process::exit(1);
    }
    println!("updated benches/README.md");
}
