//! The hello service's `.proto` is checked in (`examples/hello/proto/hello.v1.proto`); this
//! fails when the trait or its messages change without regenerating it. To regenerate:
//! `ARPC_BLESS=1 cargo test -p arpc-example-hello --test proto_golden`.

use std::path::Path;

use arpc_example_hello::GreeterClient;

#[test]
fn checked_in_proto_matches_the_trait() {
    let generated = arpc_codegen::proto::render(GreeterClient::schema()).expect("renders");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/hello.v1.proto");
    if let Err(e) = arpc_codegen::golden::check(&path, &generated) {
        panic!("{e}");
    }
}

#[test]
fn rendering_is_deterministic() {
    let a = arpc_codegen::proto::render(GreeterClient::schema()).unwrap();
    let b = arpc_codegen::proto::render(GreeterClient::schema()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn the_trait_is_compatible_with_the_checked_in_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/hello.v1.proto");
    let findings = arpc_codegen::compat::check_service(GreeterClient::schema(), &path).unwrap();
    let breaking: Vec<_> = findings
        .iter()
        .filter(|f| f.severity == arpc_codegen::compat::Severity::Breaking)
        .collect();
    assert!(breaking.is_empty(), "{breaking:#?}");
}
