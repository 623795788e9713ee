//! The data hub's `.proto` files are checked in (`examples/datahub/proto/`): they are the
//! contracts other teams generate publishers and readers from. This fails when an IDL trait
//! or its messages change without regenerating them, or change in a way that breaks peers
//! built from them. To regenerate:
//! `ARPC_BLESS=1 cargo test -p arpc-example-datahub --test proto_golden`.

use std::path::{Path, PathBuf};

use arpc::schema::ServiceSchema;
use arpc_example_datahub::{AdminClient, CachesClient, PublisherClient, QueryClient};

/// Each service and its checked-in file.
fn services() -> [(&'static ServiceSchema, PathBuf); 4] {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    [
        (PublisherClient::schema(), dir.join("datahub.v1.proto")),
        (QueryClient::schema(), dir.join("datahub.query.v1.proto")),
        (AdminClient::schema(), dir.join("datahub.admin.v1.proto")),
        (CachesClient::schema(), dir.join("datahub.cache.v1.proto")),
    ]
}

#[test]
fn checked_in_protos_match_the_traits() {
    for (schema, path) in services() {
        let generated = arpc_codegen::proto::render(schema).expect("renders");
        if let Err(e) = arpc_codegen::golden::check(&path, &generated) {
            panic!("{e}");
        }
    }
}

#[test]
fn the_traits_are_compatible_with_the_checked_in_schemas() {
    for (schema, path) in services() {
        let findings = arpc_codegen::compat::check_service(schema, &path).unwrap();
        let breaking: Vec<_> = findings
            .iter()
            .filter(|f| f.severity == arpc_codegen::compat::Severity::Breaking)
            .collect();
        assert!(breaking.is_empty(), "{}: {breaking:#?}", path.display());
    }
}
