//! The fuzz targets (the ones `fuzz/` runs under libFuzzer), run on stable Rust by
//! `arpc::fuzz::run` over a bounded, seeded stream of inputs: random bytes, and valid
//! encodings, frames, header values and registry records with bytes flipped, cut, duplicated
//! and spliced. Each target must return normally for every input.

use arpc::codec::CodecKind;
use arpc::fuzz;

fn framed(message: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    v.extend_from_slice(message);
    v
}

#[test]
fn decoders_never_panic_and_round_trip_what_they_accept() {
    let seeds: Vec<_> = CodecKind::ALL.map(fuzz::encoded_sample).into();
    fuzz::run("decode", 0x5eed_0001, &seeds, fuzz::decode);
}

#[test]
fn frame_reading_never_panics_nor_exceeds_its_limit() {
    let seeds: Vec<_> = CodecKind::ALL
        .map(|c| framed(&fuzz::encoded_sample(c)))
        .into_iter()
        .chain([
            framed(b""),
            vec![1, 0, 0, 0, 1, 0],
            vec![0, 255, 255, 255, 255],
        ])
        .collect();
    fuzz::run("frame", 0x5eed_0002, &seeds, fuzz::frame);
}

#[test]
fn header_parsing_never_panics() {
    let seeds: Vec<Vec<u8>> = [
        "application/grpc",
        "application/grpc+json; charset=utf-8",
        "proto,json,msgpack,postcard",
        "250m",
        "99999999H",
        "14",
        "13",
    ]
    .map(|s| s.as_bytes().to_vec())
    .into();
    fuzz::run("headers", 0x5eed_0003, &seeds, fuzz::headers);
}

#[test]
fn curator_records_never_panic() {
    let instance =
        arpc::registry::Instance::new("hello.v1.Greeter", "127.0.0.1:0".parse().unwrap());
    let seeds = vec![arpc::registry::curator::to_json(
        &instance,
        1_700_000_000_000,
    )];
    fuzz::run("curator", 0x5eed_0004, &seeds, |data| {
        let _ = arpc::registry::curator::from_json(data);
    });
}
