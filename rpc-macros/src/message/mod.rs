//! `#[derive(Message)]` and `#[message]`.
//!
//! [`parse`] reads the item and its `#[arpc(...)]` attributes, [`model`] classifies every
//! field's type into a protobuf shape and numbers the fields, [`validate`] checks the rules that
//! span fields (unique numbers, a zero enum value), and [`expand`] writes the impls.

mod expand;
mod model;
mod parse;
mod validate;

use proc_macro2::TokenStream;
use quote::quote;

use crate::diagnostics::Diagnostics;

/// Entry point of `#[derive(Message)]`.
pub(crate) fn derive(input: &syn::DeriveInput) -> TokenStream {
    let mut diag = Diagnostics::default();
    let parsed = parse::parse(input, &mut diag);
    let model = parsed.map(|p| model::build(p, &mut diag));
    if let Some(model) = &model {
        validate::validate(model, &mut diag);
    }
    match model {
        Some(model) if diag.is_empty() => expand::expand(&model),
        _ => {
            let errors = diag.into_compile_errors();
            let fallback = expand::fallback(input);
            quote! { #errors #fallback }
        }
    }
}

/// Entry point of `#[message]`: adds the serde derives and `#[derive(Message)]`.
pub(crate) fn attribute(args: TokenStream, input: &TokenStream) -> TokenStream {
    if !args.is_empty() {
        return syn::Error::new_spanned(
            args,
            "#[arpc::message] takes no arguments; put field options on fields as #[arpc(tag = N)]",
        )
        .to_compile_error();
    }
    quote! {
        #[derive(
            ::arpc::__private::serde::Serialize,
            ::arpc::__private::serde::Deserialize,
            ::arpc::Message
        )]
        #[serde(crate = "::arpc::__private::serde")]
        #input
    }
}
