//! Step 3: rules across methods: gRPC method names are unique within the service.

use std::collections::HashMap;

use super::model::Model;
use crate::diagnostics::Diagnostics;

pub(crate) fn validate(model: &Model<'_>, diag: &mut Diagnostics) {
    let mut seen: HashMap<&str, &syn::Ident> = HashMap::new();
    for m in &model.methods {
        if let Some(first) = seen.insert(&m.grpc_name, m.ident) {
            diag.push(syn::Error::new(
                m.name_span,
                format!(
                    "duplicate RPC name `{}`: `{}` and `{}` would both be served at /{}/{}; \
                     rename one with #[arpc(name = \"...\")]",
                    m.grpc_name,
                    first,
                    m.ident,
                    model.full_name(),
                    m.grpc_name
                ),
            ));
        }
    }
    if model.name.is_empty() || model.name.contains(['.', '/']) {
        diag.error(
            model.trait_ident,
            "the service name must be non-empty and contain no `.` or `/`",
        );
    }
}
