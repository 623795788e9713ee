//! Codec benchmarks: every codec × payload shape × size; encode time, decode time, bytes.
//!
//! `cargo bench -p arpc-benches --bench codecs` runs them and writes
//! `target/arpc-bench/codecs.json` and the table in `benches/README.md`. Besides arpc's four
//! codecs it measures two references: prost's own derive on an equivalent struct (`prost`,
//! the bar for arpc's `proto`) and sonic-rs, a SIMD JSON crate, on the same serde types
//! (`json-sonic`, to decide whether it is worth adopting).

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use arpc::Message;
use arpc::codec::CodecKind;
use arpc_benches::payloads::{self, PDisplayScreen, PNumericBatch, PTextBatch, SIZES, Shape};
use arpc_benches::report::{self, Samples, fmt_bytes, fmt_ns};
use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, SamplingMode};
use serde_json::json;

static SAMPLES: LazyLock<Samples> = LazyLock::new(Samples::default);

/// What is measured: an arpc codec or a reference implementation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Subject {
    Arpc(CodecKind),
    Prost,
    Sonic,
}

const SUBJECTS: [Subject; 6] = [
    Subject::Arpc(CodecKind::Proto),
    Subject::Prost,
    Subject::Arpc(CodecKind::Postcard),
    Subject::Arpc(CodecKind::MsgPack),
    Subject::Arpc(CodecKind::Json),
    Subject::Sonic,
];

impl Subject {
    fn name(self) -> &'static str {
        match self {
            Subject::Arpc(c) => c.name(),
            Subject::Prost => "prost",
            Subject::Sonic => "json-sonic",
        }
    }
}

fn encode<A: Message, P: prost::Message>(s: Subject, a: &A, p: &P, buf: &mut BytesMut) {
    match s {
        Subject::Arpc(c) => c.encode(a, buf).expect("encode"),
        Subject::Prost => p.encode(buf).expect("prost encode"),
        Subject::Sonic => sonic_rs::to_writer(buf.writer(), a).expect("sonic encode"),
    }
}

fn decode<A: Message, P: prost::Message + Default>(s: Subject, bytes: &Bytes) {
    match s {
        Subject::Arpc(c) => drop(black_box(c.decode::<A>(bytes.clone()).expect("decode"))),
        Subject::Prost => drop(black_box(P::decode(bytes.clone()).expect("prost decode"))),
        Subject::Sonic => drop(black_box(
            sonic_rs::from_slice::<A>(bytes).expect("sonic decode"),
        )),
    }
}

#[derive(Debug)]
struct Row {
    subject: Subject,
    shape: Shape,
    size: &'static str,
    bytes: usize,
    encode_key: String,
    decode_key: String,
}

fn bench_case<A: Message + PartialEq + std::fmt::Debug, P: prost::Message + Default>(
    c: &mut Criterion,
    shape: Shape,
    (size, target): (&'static str, usize),
    a: &A,
    p: &P,
    rows: &mut Vec<Row>,
) {
    let mut group = c.benchmark_group(format!("{}/{size}", shape.name()));
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    if target >= 256 * 1024 {
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
    } else {
        group.sample_size(20);
    }
    for subject in SUBJECTS {
        let mut buf = BytesMut::new();
        encode(subject, a, p, &mut buf);
        let bytes = buf.split().freeze();
        // Every subject must read back what it wrote before its time means anything.
        if let Subject::Arpc(codec) = subject {
            assert_eq!(&codec.decode::<A>(bytes.clone()).expect("decode"), a);
        }
        let encode_key = format!("{}/{size}/encode/{}", shape.name(), subject.name());
        let decode_key = format!("{}/{size}/decode/{}", shape.name(), subject.name());
        group.bench_function(format!("encode/{}", subject.name()), |b| {
            b.iter_custom(|iters| {
                let mut buf = BytesMut::with_capacity(bytes.len());
                let start = Instant::now();
                for _ in 0..iters {
                    buf.clear();
                    encode(subject, black_box(a), p, &mut buf);
                    black_box(&buf);
                }
                let elapsed = start.elapsed();
                SAMPLES.record(&encode_key, iters, elapsed);
                elapsed
            });
        });
        group.bench_function(format!("decode/{}", subject.name()), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    decode::<A, P>(subject, black_box(&bytes));
                }
                let elapsed = start.elapsed();
                SAMPLES.record(&decode_key, iters, elapsed);
                elapsed
            });
        });
        rows.push(Row {
            subject,
            shape,
            size,
            bytes: bytes.len(),
            encode_key,
            decode_key,
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut rows = Vec::new();
    for (size, target) in SIZES {
        let n = payloads::numeric_at(target);
        bench_case(
            &mut c,
            Shape::Numeric,
            (size, target),
            &n,
            &PNumericBatch::from(&n),
            &mut rows,
        );
        let t = payloads::text_at(target);
        bench_case(
            &mut c,
            Shape::Text,
            (size, target),
            &t,
            &PTextBatch::from(&t),
            &mut rows,
        );
        let d = payloads::display_at(target);
        bench_case(
            &mut c,
            Shape::Display,
            (size, target),
            &d,
            &PDisplayScreen::from(&d),
            &mut rows,
        );
    }
    c.final_summary();
    if report::is_bench_run()
        && let Err(e) = write_results(&rows)
    {
        eprintln!("could not write codec results: {e}");
        std::process::exit(1);
    }
}

fn write_results(rows: &[Row]) -> std::io::Result<()> {
    let machine = report::machine();
    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "codec": r.subject.name(),
                "shape": r.shape.name(),
                "size": r.size,
                "bytes": r.bytes,
                "encode_ns": SAMPLES.median(&r.encode_key),
                "decode_ns": SAMPLES.median(&r.decode_key),
            })
        })
        .collect();
    let path = report::write_json("codecs", &json!({ "machine": machine, "results": results }))?;
    println!("wrote {}", path.display());
    report::splice_readme("codecs", &markdown(rows, &machine))?;
    println!("updated benches/README.md");
    Ok(())
}

fn time(key: &str) -> f64 {
    SAMPLES.median(key).unwrap_or(f64::NAN)
}

fn find<'a>(rows: &'a [Row], shape: Shape, size: &str, subject: Subject) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.shape == shape && r.size == size && r.subject == subject)
}

#[allow(clippy::cast_precision_loss)]
fn markdown(rows: &[Row], machine: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "Measured on: {machine}.\n");
    let _ = writeln!(
        out,
        "Headline ratios (time ratios: above 1 means the first is slower):\n"
    );
    let _ = writeln!(
        out,
        "| shape | size | JSON/postcard decode | JSON/proto decode | postcard/proto enc+dec | json-sonic/json decode | arpc proto/prost enc+dec | JSON/proto bytes |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for shape in Shape::ALL {
        for (size, _) in SIZES {
            let get = |s| find(rows, shape, size, s);
            let (Some(proto), Some(prost), Some(pc), Some(json), Some(sonic)) = (
                get(Subject::Arpc(CodecKind::Proto)),
                get(Subject::Prost),
                get(Subject::Arpc(CodecKind::Postcard)),
                get(Subject::Arpc(CodecKind::Json)),
                get(Subject::Sonic),
            ) else {
                continue;
            };
            let both = |r: &Row| time(&r.encode_key) + time(&r.decode_key);
            let _ = writeln!(
                out,
                "| {} | {size} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                shape.name(),
                time(&json.decode_key) / time(&pc.decode_key),
                time(&json.decode_key) / time(&proto.decode_key),
                both(pc) / both(proto),
                time(&sonic.decode_key) / time(&json.decode_key),
                both(proto) / both(prost),
                json.bytes as f64 / proto.bytes as f64,
            );
        }
    }
    for shape in Shape::ALL {
        let _ = writeln!(out, "\n#### {}\n", shape.name());
        let _ = writeln!(
            out,
            "| size | codec | bytes | encode | decode | enc+dec vs proto |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for (size, _) in SIZES {
            let Some(proto) = find(rows, shape, size, Subject::Arpc(CodecKind::Proto)) else {
                continue;
            };
            let proto_both = time(&proto.encode_key) + time(&proto.decode_key);
            for subject in SUBJECTS {
                let Some(r) = find(rows, shape, size, subject) else {
                    continue;
                };
                let (e, d) = (time(&r.encode_key), time(&r.decode_key));
                let _ = writeln!(
                    out,
                    "| {size} | {} | {} | {} | {} | {:.2}× |",
                    subject.name(),
                    fmt_bytes(r.bytes),
                    fmt_ns(e),
                    fmt_ns(d),
                    (e + d) / proto_both,
                );
            }
        }
    }
    out
}
