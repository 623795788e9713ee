//! A tour of arpc's codecs: one "display screen" of a shopping app (member, seller, benefits,
//! points, items) through every wire format, with sizes, timings and what each codec policy
//! picks.
//!
//! ```text
//! cargo run --release -p arpc-example-tour            # default: 40 items, 2000 rounds
//! cargo run --release -p arpc-example-tour -- 400 200 # 400 items, 200 rounds
//! ```
//!
//! Exits non-zero if any codec fails to give back exactly the message it was given.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use arpc::Message;
use arpc::codec::{CodecKind, CodecPolicy, CodecSelector, CodecSet};
use bytes::BytesMut;

/// Membership grade: a unit-only enum is a protobuf `enum`.
#[arpc::message]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grade {
    Basic,
    Silver,
    Gold,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct Member {
    member_id: u64,
    name: String,
    grade: Grade,
    email: Option<String>,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct Seller {
    seller_id: u64,
    name: String,
    rating: f32,
}

/// An enum with data is a message holding a `oneof`.
#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
enum Benefit {
    FreeShipping,
    Discount(u32),
    Coupon(String),
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct Points {
    balance: i64,
    /// Field numbers follow declaration order; this one is pinned to 7.
    #[arpc(tag = 7)]
    expiring: Vec<i64>,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct Item {
    item_id: u64,
    name: String,
    price: u64,
    attributes: BTreeMap<String, String>,
}

#[arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct DisplayScreen {
    member: Member,
    seller: Seller,
    benefits: Vec<Benefit>,
    points: Points,
    items: Vec<Item>,
}

fn screen(items: usize) -> DisplayScreen {
    DisplayScreen {
        member: Member {
            member_id: 90_210,
            name: "Kim Minji".into(),
            grade: Grade::Gold,
            email: Some("minji@example.com".into()),
        },
        seller: Seller {
            seller_id: 77,
            name: "Morning Coffee Roasters".into(),
            rating: 4.8,
        },
        benefits: vec![
            Benefit::FreeShipping,
            Benefit::Discount(15),
            Benefit::Coupon("WELCOME2026".into()),
        ],
        points: Points {
            balance: 12_500,
            expiring: vec![300, 120, 45],
        },
        items: (0..items as u64)
            .map(|i| Item {
                item_id: 5_000_000 + i * 7919 % 100_000,
                name: format!("Single-origin beans no. {i}, 500 g, roasted today"),
                price: 12_900 + (i * 37) % 5_000,
                attributes: [("roast", "medium"), ("origin", "Huila")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            })
            .collect(),
    }
}

/// Average time of `f` over `rounds` runs.
fn time(rounds: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..rounds {
        f();
    }
    start.elapsed() / rounds.max(1)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let (items, rounds) = match (args.next(), args.next()) {
        (None, None) => (40, 2000),
        (Some(Ok(i)), None) => (i, 2000),
        (Some(Ok(i)), Some(Ok(r))) => (i, r),
        _ => {
            eprintln!("usage: arpc-example-tour [ITEMS [ROUNDS]]");
            return ExitCode::from(2);
        }
    };
    let rounds = u32::try_from(rounds).unwrap_or(u32::MAX).max(1);
    let msg = screen(items);
    println!(
        "A display screen with {items} items ({} bytes as protobuf); mean of {rounds} rounds.\n",
        msg.proto_len()
    );
    println!(
        "{:<9} {:<28} {:>8} {:>11} {:>11}  round trip",
        "codec", "content-type", "bytes", "encode", "decode"
    );
    let mut all_ok = true;
    for codec in CodecKind::ALL {
        let mut buf = BytesMut::new();
        if let Err(e) = codec.encode(&msg, &mut buf) {
            eprintln!("{codec}: {e}");
            return ExitCode::FAILURE;
        }
        let bytes = buf.split().freeze();
        let back = codec.decode::<DisplayScreen>(bytes.clone());
        let ok = back.as_ref().is_ok_and(|b| *b == msg);
        all_ok &= ok;
        let encode = time(rounds, || {
            buf.clear();
            let _ = codec.encode(std::hint::black_box(&msg), &mut buf);
        });
        let decode = time(rounds, || {
            let _ = std::hint::black_box(codec.decode::<DisplayScreen>(bytes.clone()));
        });
        println!(
            "{:<9} {:<28} {:>8} {:>11.2?} {:>11.2?}  {}",
            codec.name(),
            codec.content_type(),
            bytes.len(),
            encode,
            decode,
            if ok { "identical" } else { "MISMATCH" }
        );
        if let Err(e) = back {
            eprintln!("  {e}");
        }
    }

    println!("\nPolicies (the codec each would send, to a peer accepting all four):");
    let small = screen(0);
    let large = screen(items.max(400));
    let policies = [
        ("Fixed(proto)", CodecPolicy::default()),
        (
            "BySize(postcard < 16 KiB <= json)",
            CodecPolicy::BySize {
                small: CodecKind::Postcard,
                large: CodecKind::Json,
                threshold_bytes: 16 * 1024,
            },
        ),
        ("Auto (after calibration)", CodecPolicy::auto()),
    ];
    for (name, policy) in policies {
        let selector = CodecSelector::new(policy);
        let pick = |m: &DisplayScreen| {
            let mut last = CodecKind::Proto;
            // Auto calibrates on its first messages of each size class, then settles.
            for _ in 0..20 {
                let mut buf = BytesMut::new();
                match selector.encode(m, CodecSet::ALL, &mut buf) {
                    Ok(c) => last = c,
                    Err(e) => eprintln!("{e}"),
                }
            }
            last
        };
        let (s, l) = (pick(&small), pick(&large));
        println!(
            "  {name:<36} {} B screen -> {s:<8} {} B screen -> {l}",
            small.proto_len(),
            large.proto_len()
        );
    }
    println!(
        "\nSchema of {}: {} fields",
        DisplayScreen::NAME,
        DisplayScreen::schema().fields().len()
    );

    if all_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("some codec did not round-trip the screen");
        ExitCode::FAILURE
    }
}
