//! Step 1: read the trait, the macro's arguments and each method's `#[arpc(...)]` options.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::{ItemTrait, LitInt, LitStr, TraitItem, TraitItemFn};

use crate::diagnostics::Diagnostics;

/// The trait as written.
pub(crate) struct Parsed<'a> {
    pub(crate) item: &'a ItemTrait,
    pub(crate) package: Option<LitStr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) methods: Vec<ParsedMethod<'a>>,
}

pub(crate) struct ParsedMethod<'a> {
    pub(crate) item: &'a TraitItemFn,
    pub(crate) options: Options,
}

/// `#[arpc(...)]` on a method.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) read: Option<Span>,
    pub(crate) write: Option<Span>,
    pub(crate) idempotent: Option<Span>,
    pub(crate) codec: Option<CodecOption>,
    pub(crate) deadline_ms: Option<LitInt>,
    pub(crate) max_message_bytes: Option<LitInt>,
    pub(crate) compress: Option<LitStr>,
    pub(crate) compress_min_bytes: Option<LitInt>,
    pub(crate) name: Option<LitStr>,
}

pub(crate) enum CodecOption {
    /// `codec = "json"` or `codec = "auto"`.
    Named(LitStr),
    /// `codec(small = "postcard", large = "json", threshold = 16384)`.
    BySize {
        span: Span,
        small: Option<LitStr>,
        large: Option<LitStr>,
        threshold: Option<LitInt>,
    },
}

pub(crate) fn parse<'a>(
    args: TokenStream,
    item: &'a ItemTrait,
    diag: &mut Diagnostics,
) -> Parsed<'a> {
    let mut package = None;
    let mut name = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("package") {
            package = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[arpc::service] option; expected `package = \"...\"` or `name = \"...\"`",
            ))
        }
    });
    if let Err(e) = parser.parse2(args) {
        diag.push(e);
    }
    let mut methods = Vec::new();
    for trait_item in &item.items {
        match trait_item {
            TraitItem::Fn(f) => methods.push(ParsedMethod {
                item: f,
                options: options(&f.attrs, diag),
            }),
            other => diag.error(
                other,
                "an arpc service trait holds methods only (each one a unary RPC)",
            ),
        }
    }
    Parsed {
        item,
        package,
        name,
        methods,
    }
}

fn options(attrs: &[syn::Attribute], diag: &mut Diagnostics) -> Options {
    let mut o = Options::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("arpc")) {
        let result = attr.parse_nested_meta(|meta| {
            let span = meta.path.get_ident().map_or_else(Span::call_site, syn::Ident::span);
            if meta.path.is_ident("read") {
                o.read = Some(span);
            } else if meta.path.is_ident("write") {
                o.write = Some(span);
            } else if meta.path.is_ident("idempotent") {
                o.idempotent = Some(span);
            } else if meta.path.is_ident("name") {
                o.name = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("deadline_ms") {
                o.deadline_ms = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("max_message_bytes") {
                o.max_message_bytes = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("compress") {
                o.compress = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("compress_min_bytes") {
                o.compress_min_bytes = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("codec") {
                if meta.input.peek(syn::Token![=]) {
                    o.codec = Some(CodecOption::Named(meta.value()?.parse()?));
                } else {
                    let (mut small, mut large, mut threshold) = (None, None, None);
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("small") {
                            small = Some(inner.value()?.parse()?);
                        } else if inner.path.is_ident("large") {
                            large = Some(inner.value()?.parse()?);
                        } else if inner.path.is_ident("threshold") {
                            threshold = Some(inner.value()?.parse()?);
                        } else {
                            return Err(inner.error(
                                "expected `small = \"codec\"`, `large = \"codec\"` or `threshold = BYTES`",
                            ));
                        }
                        Ok(())
                    })?;
                    o.codec = Some(CodecOption::BySize {
                        span,
                        small,
                        large,
                        threshold,
                    });
                }
            } else {
                return Err(meta.error(
                    "unknown arpc method option; expected read, write, idempotent, \
                     codec = \"...\", codec(small = .., large = .., threshold = ..), \
                     deadline_ms = N, max_message_bytes = N, compress = \"...\", \
                     compress_min_bytes = N or name = \"...\"",
                ));
            }
            Ok(())
        });
        if let Err(e) = result {
            diag.push(e);
        }
    }
    o
}
