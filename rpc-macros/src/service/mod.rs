//! `#[service]`: a trait becomes a gRPC service, its server and its client.
//!
//! [`parse`] reads the trait and the `#[arpc(...)]` options, [`model`] turns each method into
//! a unary RPC (request, response, read or write, codec policy, deadline, gRPC name),
//! [`validate`] checks what spans methods (unique names), and [`expand`] writes the trait back
//! (async methods declared `Send`) with `{Trait}Server`, `{Trait}Client` and the schema.

mod expand;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::diagnostics::Diagnostics;

/// Entry point of `#[service]`.
pub(crate) fn service(args: TokenStream, input: &TokenStream) -> TokenStream {
    let mut diag = Diagnostics::default();
    let item: syn::ItemTrait = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            diag.error(
                input,
                "#[arpc::service] goes on a trait: `trait Greeter { async fn hello(&self, req: \
                 HelloRequest) -> Result<HelloReply, arpc::Status>; }`",
            );
            return diag.into_compile_errors();
        }
    };
    let parsed = parse::parse(args, &item, &mut diag);
    let model = model::build(&parsed, &mut diag);
    validate::validate(&model, &mut diag);
    if diag.is_empty() {
        expand::expand(&model)
    } else {
        // The trait alone, so the user's impls do not add follow-on errors.
        let errors = diag.into_compile_errors();
        let fallback = expand::trait_only(&item);
        quote! { #errors #fallback }
    }
}
