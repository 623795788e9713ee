//! The data hub's `.proto` is checked in (`examples/datahub/proto/datahub.v1.proto`): it is
//! the contract other teams generate publishers from. This fails when the IDL or its
//! messages change without regenerating it, or change in a way that breaks peers built from
//! it. To regenerate: `ARPC_BLESS=1 cargo test -p arpc-example-datahub --test proto_golden`.

use std::path::Path;

use arpc_example_datahub::PublisherClient;

fn checked_in() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/datahub.v1.proto")
}

#[test]
fn checked_in_proto_matches_the_trait() {
    let generated = arpc_codegen::proto::render(PublisherClient::schema()).expect("renders");
    if let Err(e) = arpc_codegen::golden::check(&checked_in(), &generated) {
        panic!("{e}");
    }
}

#[test]
fn the_trait_is_compatible_with_the_checked_in_schema() {
    let findings =
        arpc_codegen::compat::check_service(PublisherClient::schema(), &checked_in()).unwrap();
    let breaking: Vec<_> = findings
        .iter()
        .filter(|f| f.severity == arpc_codegen::compat::Severity::Breaking)
        .collect();
    assert!(breaking.is_empty(), "{breaking:#?}");
}
