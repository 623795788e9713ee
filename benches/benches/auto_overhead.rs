//! What does `Auto`'s bookkeeping cost a small call? Issue 12's goal: at most 2 % of a 64 B
//! call. A 64 B message is below every compression threshold, so `Auto` can only choose
//! among the four codecs there, and the best it can do is to cost what the codec it settles
//! on costs when fixed: what it adds is its bookkeeping (the size estimate, the choice: a
//! counter and a few loads; on one call in 64 or 128, timing the encode and decoding a copy
//! to time the peer's part, then recording the sample).
//!
//! Two measurements, side by side in one run:
//!
//! 1. **Encode alone**: a 64 B `NumericBatch` encoded through a `CodecSelector` with `Auto`
//!    and through one fixed to the codec `Auto` settled on, by one thread and by two threads
//!    sharing the selector (as the callers of one method share it, so its counters are
//!    contended); rounds alternate, the median round counts. The difference per message is
//!    `Auto`'s bookkeeping.
//! 2. **Whole calls**: real arpc calls of 64 B over loopback, 16 callers in flight, to a
//!    method fixed to postcard and to a method with `Auto` (the client's requests and the
//!    server's responses both chosen by `Auto`); CPU time of the process (client and server)
//!    per call, rounds alternating, the median round.
//!
//! The goal's figure is the bookkeeping of both ends (two encodes per call: the request and
//! the response) over the CPU of a fixed 64 B call. The whole-call ratio says the same from
//! the other side, with the noise of a shared machine in it.
//!
//! `cargo bench -p arpc-benches --bench auto_overhead` writes
//! `target/arpc-bench/auto_overhead.json` and the table in `benches/README.md`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arpc::codec::{
    AutoConfig, CodecKind, CodecPolicy, CodecSelector, CodecSet, Compression, CompressionSet,
};
use arpc::{CallOptions, Status};
use arpc_benches::payloads::{self, NumericBatch};
use arpc_benches::report;
use bytes::BytesMut;
use serde_json::json;
use tokio::net::TcpListener;

#[arpc::service(package = "overhead.v1")]
trait Small {
    #[arpc(codec = "postcard")]
    async fn fixed(&self, batch: NumericBatch) -> Result<NumericBatch, Status>;

    #[arpc(codec = "auto")]
    async fn auto(&self, batch: NumericBatch) -> Result<NumericBatch, Status>;
}

struct Echo;

impl Small for Echo {
    async fn fixed(&self, batch: NumericBatch) -> Result<NumericBatch, Status> {
        Ok(batch)
    }
    async fn auto(&self, batch: NumericBatch) -> Result<NumericBatch, Status> {
        Ok(batch)
    }
}

/// How much each part runs.
#[derive(Clone, Copy)]
struct Plan {
    /// Encodes per thread per round.
    encodes: usize,
    /// Calls per configuration per round.
    calls: usize,
    rounds: usize,
}

const CALLERS: usize = 16;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Nanoseconds per encode of `msg` through `selector`, by `threads` threads at once sharing
/// it (wall time of each thread's loop; the mean over threads).
#[allow(clippy::cast_precision_loss)]
fn encode_ns(selector: &CodecSelector, msg: &NumericBatch, n: usize, threads: usize) -> f64 {
    let per_thread: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut buf = BytesMut::with_capacity(256);
                    let start = Instant::now();
                    for _ in 0..n {
                        buf.clear();
                        let encoded = selector
                            .encode_with(
                                black_box(msg),
                                CodecSet::ALL,
                                CompressionSet::GRPC,
                                &mut buf,
                            )
                            .expect("encode");
                        black_box(encoded);
                    }
                    start.elapsed().as_nanos() as f64 / n as f64
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    per_thread.iter().sum::<f64>() / per_thread.len() as f64
}

/// `Auto` against the fixed codec it settled on, encoding alone: (settled codec, per
/// thread count: (fixed ns, Auto ns)).
fn encodes(msg: &NumericBatch, plan: Plan) -> (CodecKind, Vec<(usize, f64, f64)>) {
    let auto = CodecSelector::new(CodecPolicy::Auto(AutoConfig::default()));
    // Calibration and settling: every codec measured, then routine choices.
    encode_ns(&auto, msg, 20_000, 1);
    let settled = auto
        .auto()
        .and_then(|a| a.choice(prost::Message::encoded_len(msg)))
        .map_or(CodecKind::Proto, |(codec, _)| codec);
    let fixed = CodecSelector::new(CodecPolicy::Fixed(settled));
    let mut out = Vec::new();
    for threads in [1, 2] {
        let (mut f, mut a) = (Vec::new(), Vec::new());
        for _ in 0..plan.rounds {
            f.push(encode_ns(&fixed, msg, plan.encodes, threads));
            a.push(encode_ns(&auto, msg, plan.encodes, threads));
        }
        out.push((threads, median(f), median(a)));
    }
    (settled, out)
}

/// Process CPU per call of `n` calls made by [`CALLERS`] callers, through `call`.
#[allow(clippy::cast_precision_loss)]
async fn calls<F, Fut>(n: usize, call: F) -> f64
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let share = n.div_ceil(CALLERS);
    let cpu0 = report::process_cpu_ns();
    futures_util::future::join_all((0..CALLERS).map(|_| async {
        for _ in 0..share {
            call().await;
        }
    }))
    .await;
    report::process_cpu_ns().saturating_sub(cpu0) as f64 / (share * CALLERS) as f64
}

/// Whole calls: (fixed CPU ns per call, Auto CPU ns per call, Auto's pairs: requests and
/// responses sent in each codec).
async fn whole_calls(msg: &NumericBatch, plan: Plan) -> (f64, f64, Vec<(String, u64)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        arpc::Server::builder()
            .add_service(SmallServer::new(Echo))
            .serve_with_incoming(listener, std::future::pending()),
    );
    let client = SmallClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    let sent: [AtomicU64; 8] = std::array::from_fn(|_| AtomicU64::new(0));
    let fixed = || async {
        let response = client.fixed(msg.clone()).await.expect("fixed");
        assert_eq!(&response, msg);
    };
    let auto = || async {
        let response = client
            .auto_with(msg.clone(), CallOptions::default())
            .await
            .expect("auto");
        assert_eq!(&response.message, msg);
        assert_eq!(response.compression, Compression::Identity);
        let ix = |c: CodecKind| CodecKind::ALL.iter().position(|k| *k == c).unwrap_or(0);
        sent[ix(response.request_codec)].fetch_add(1, Ordering::Relaxed);
        sent[4 + ix(response.codec)].fetch_add(1, Ordering::Relaxed);
    };
    // Warm-up: connections, allocator, `Auto`'s calibration at both ends.
    calls(plan.calls / 4 + 2_000, fixed).await;
    calls(plan.calls / 4 + 2_000, auto).await;
    for counter in &sent {
        counter.store(0, Ordering::Relaxed);
    }
    let (mut f, mut a) = (Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        f.push(calls(plan.calls, fixed).await);
        a.push(calls(plan.calls, auto).await);
    }
    let pairs = CodecKind::ALL
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            [
                (format!("request {c}"), sent[i].load(Ordering::Relaxed)),
                (format!("response {c}"), sent[4 + i].load(Ordering::Relaxed)),
            ]
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    (median(f), median(a), pairs)
}

/// A numeric batch of one sample whose histogram grows until its protobuf encoding reaches
/// `target` bytes.
fn message_of(target: usize) -> NumericBatch {
    let mut msg = payloads::numeric(1);
    let mut r = payloads::Rng::new(7);
    while prost::Message::encoded_len(&msg) < target {
        msg.histogram.push(r.below(1 << 20));
    }
    msg
}

fn main() {
    let bench = report::is_bench_run();
    let plan = if bench {
        Plan {
            encodes: 1_000_000,
            calls: 20_000,
            rounds: 11,
        }
    } else {
        // The smoke run of `cargo test`: every part, briefly.
        Plan {
            encodes: 2_000,
            calls: 200,
            rounds: 1,
        }
    };
    let msg = message_of(64);
    let size = prost::Message::encoded_len(&msg);
    let (settled, encode) = encodes(&msg, plan);
    for (threads, fixed, auto) in &encode {
        println!(
            "encode, {threads} thread(s): {settled} fixed {fixed:.1} ns, Auto {auto:.1} ns, \
             bookkeeping {:.1} ns",
            auto - fixed
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (call_fixed, call_auto, pairs) = runtime.block_on(whole_calls(&msg, plan));
    // The worse of the two encode figures, for both ends of a call.
    let bookkeeping = encode
        .iter()
        .map(|(_, fixed, auto)| auto - fixed)
        .fold(f64::MIN, f64::max);
    let share = 2.0 * bookkeeping / call_fixed;
    println!(
        "calls: postcard {call_fixed:.0} ns, Auto {call_auto:.0} ns of CPU per call \
         (Auto / fixed {:.3}); bookkeeping of both ends {:.1} ns = {:.2} % of a fixed call; \
         Auto sent in {pairs:?}",
        call_auto / call_fixed,
        2.0 * bookkeeping,
        100.0 * share
    );
    if !bench {
        return;
    }
    let machine = report::machine();
    let value = json!({
        "machine": machine,
        "message_bytes": size,
        "settled_codec": settled.name(),
        "encode": encode.iter().map(|(threads, fixed, auto)| json!({
            "threads": threads, "fixed_ns": fixed, "auto_ns": auto,
            "bookkeeping_ns": auto - fixed,
        })).collect::<Vec<_>>(),
        "call_fixed_cpu_ns": call_fixed,
        "call_auto_cpu_ns": call_auto,
        "call_auto_over_fixed": call_auto / call_fixed,
        "bookkeeping_share_of_call": share,
        "auto_sent_in": pairs.iter().map(|(k, n)| json!({"what": k, "calls": n})).collect::<Vec<_>>(),
        "plan": {"encodes": plan.encodes, "calls": plan.calls, "rounds": plan.rounds, "callers": CALLERS},
    });
    match report::write_json("auto_overhead", &value) {
        Ok(path) => println!("wrote {}", path.display()),
        Err(e) => {
            eprintln!("could not write results: {e}");
            std::process::exit(1);
        }
    }
    let mut s = format!(
        "Measured on {machine}. A {size} B `NumericBatch`; `Auto` settled on {settled}. \
         Encode alone: {} encodes per thread per round; whole calls: {} calls per round, \
         {CALLERS} callers; {} rounds alternating, the median round.\n\n\
         | part | fixed | Auto | Auto − fixed |\n|---|---|---|---|\n",
        plan.encodes, plan.calls, plan.rounds
    );
    for (threads, fixed, auto) in &encode {
        s.push_str(&format!(
            "| encode, {} | {fixed:.1} ns | {auto:.1} ns | {:.1} ns |\n",
            if *threads == 1 {
                "1 thread".to_owned()
            } else {
                format!("{threads} threads sharing the selector")
            },
            auto - fixed
        ));
    }
    s.push_str(&format!(
        "| whole call, CPU of client and server (Auto / fixed: **{:.3}**) | {} | {} | {} |\n\n\
         **Bookkeeping of both ends (2 × {bookkeeping:.1} ns) / a fixed 64 B call: {:.2} %** \
         (goal ≤ 2 %). `Auto` sent in: {}.\n",
        call_auto / call_fixed,
        report::fmt_ns(call_fixed),
        report::fmt_ns(call_auto),
        report::fmt_ns(call_auto - call_fixed),
        100.0 * share,
        pairs
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let Err(e) = report::splice_readme("auto-overhead", &s) {
        eprintln!("could not update benches/README.md: {e}");
        std::process::exit(1);
    }
    println!("updated benches/README.md");
}
