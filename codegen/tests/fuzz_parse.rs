//! The `.proto` reader's fuzz target (`fuzz/fuzz_targets/proto_parse.rs`) on stable Rust,
//! bounded: checked-in `.proto` files mutated, and random bytes; an error or a file, never a
//! panic.

#[test]
fn the_proto_reader_never_panics() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let seeds: Vec<Vec<u8>> = [
        "examples/hello/proto/hello.v1.proto",
        "examples/datahub/proto/datahub.v1.proto",
    ]
    .iter()
    .map(|p| std::fs::read(root.join(p)).expect("a checked-in .proto"))
    .collect();
    arpc::fuzz::run("proto_parse", 0x5eed_0005, &seeds, |data| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = arpc_codegen::parse::parse(text);
        }
    });
}
