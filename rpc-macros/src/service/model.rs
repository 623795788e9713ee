//! Step 2: each trait method as a unary RPC. Signature rules are checked here, where the
//! tokens are at hand: `&self`, one request argument taken by value, `Result<T, arpc::Status>`,
//! no generics, and `async` agreeing with `read`/`write`.

use proc_macro2::Span;
use syn::{FnArg, GenericArgument, Ident, Pat, PathArguments, ReturnType, Type, Visibility};

use super::parse::{CodecOption, Parsed};
use crate::diagnostics::Diagnostics;

pub(crate) struct Model<'a> {
    pub(crate) item: &'a syn::ItemTrait,
    pub(crate) vis: &'a Visibility,
    pub(crate) trait_ident: &'a Ident,
    pub(crate) package: String,
    pub(crate) name: String,
    pub(crate) methods: Vec<Method<'a>>,
}

impl Model<'_> {
    /// `package.Service`, or `Service` without a package.
    pub(crate) fn full_name(&self) -> String {
        if self.package.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.package, self.name)
        }
    }
}

pub(crate) struct Method<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) grpc_name: String,
    pub(crate) name_span: Span,
    pub(crate) kind: Kind,
    pub(crate) idempotent: bool,
    pub(crate) request: &'a Type,
    pub(crate) response: &'a Type,
    pub(crate) policy: Policy,
    pub(crate) deadline_ms: Option<u64>,
    pub(crate) max_message_bytes: Option<u64>,
    /// The `Compression` variant for `compress = "..."`.
    pub(crate) compress: Option<&'static str>,
    pub(crate) compress_min_bytes: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Read,
    Write,
}

pub(crate) enum Policy {
    Fixed(&'static str),
    Auto,
    BySize {
        small: &'static str,
        large: &'static str,
        threshold: usize,
    },
}

const CODECS: [(&str, &str); 4] = [
    ("proto", "Proto"),
    ("json", "Json"),
    ("msgpack", "MsgPack"),
    ("postcard", "Postcard"),
];

const COMPRESSIONS: [(&str, &str); 4] = [
    ("gzip", "Gzip"),
    ("deflate", "Deflate"),
    ("zstd", "Zstd"),
    ("off", "Identity"),
];

fn codec_variant(lit: &syn::LitStr, diag: &mut Diagnostics) -> &'static str {
    let value = lit.value();
    CODECS
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, variant)| *variant)
        .unwrap_or_else(|| {
            diag.error(
                lit,
                format!("unknown codec `{value}`; expected proto, json, msgpack, postcard or auto"),
            );
            "Proto"
        })
}

pub(crate) fn build<'a>(parsed: &Parsed<'a>, diag: &mut Diagnostics) -> Model<'a> {
    let item = parsed.item;
    let methods = parsed
        .methods
        .iter()
        .filter_map(|m| method(m.item, &m.options, diag))
        .collect();
    Model {
        item,
        vis: &item.vis,
        trait_ident: &item.ident,
        package: parsed
            .package
            .as_ref()
            .map(syn::LitStr::value)
            .unwrap_or_default(),
        name: parsed
            .name
            .as_ref()
            .map_or_else(|| item.ident.to_string(), syn::LitStr::value),
        methods,
    }
}

/// `say_hello` → `SayHello`.
fn camel(ident: &Ident) -> String {
    ident
        .to_string()
        .trim_start_matches("r#")
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn method<'a>(
    f: &'a syn::TraitItemFn,
    options: &super::parse::Options,
    diag: &mut Diagnostics,
) -> Option<Method<'a>> {
    let sig = &f.sig;
    let before = diag_count(diag);
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        diag.error(
            &sig.generics,
            "an RPC method cannot be generic: its request and response types are its schema",
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) if r.reference.is_none() => diag.error(
            r,
            "an RPC method takes `&self`, not `self`: one service value serves every call",
        ),
        Some(FnArg::Receiver(r)) => diag.error(
            r,
            "an RPC method takes `&self`, not `&mut self`: calls run concurrently; use interior \
             mutability (a Mutex, an atomic) for state",
        ),
        _ => diag.error(
            &sig.ident,
            "an RPC method takes `&self` and one request: `fn name(&self, request: Request) -> \
             Result<Response, arpc::Status>`",
        ),
    }
    let args: Vec<_> = inputs.collect();
    let request = match args.as_slice() {
        [FnArg::Typed(arg)] => {
            if !matches!(&*arg.pat, Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none()) {
                diag.error(
                    &arg.pat,
                    "unsupported argument form: name the request with a plain identifier \
                     (`request: HelloRequest`), without patterns",
                );
            }
            if matches!(
                &*arg.ty,
                Type::Reference(_) | Type::ImplTrait(_) | Type::TraitObject(_)
            ) {
                diag.error(
                    &arg.ty,
                    "unsupported argument form: take the request by value as a message type \
                     (`request: HelloRequest`)",
                );
            }
            Some(&*arg.ty)
        }
        [] => {
            diag.error(
                &sig.ident,
                "an RPC method takes one request argument after `&self`; for no input, use an \
                 empty message struct",
            );
            None
        }
        [_, second, ..] => {
            diag.error(
                second,
                "an RPC method takes exactly one request argument: put these values into one \
                 #[arpc::message] struct",
            );
            None
        }
        [FnArg::Receiver(r)] => {
            diag.error(r, "unexpected second receiver");
            None
        }
    };
    let response = response_type(sig, diag);
    let is_async = sig.asyncness.is_some();
    let kind = match (options.read, options.write, is_async) {
        (Some(_), Some(span), _) => {
            diag.push(syn::Error::new(
                span,
                "a method is either `read` or `write`, not both",
            ));
            Kind::Read
        }
        (Some(span), None, false) => {
            diag.push(syn::Error::new(
                span,
                "a `read` method is `async fn`: reads run on the async runtime",
            ));
            Kind::Read
        }
        (None, Some(span), true) => {
            diag.push(syn::Error::new(
                span,
                "a `write` method is a plain `fn`: writes run on the blocking pool; remove `async`",
            ));
            Kind::Write
        }
        (_, _, true) => Kind::Read,
        (_, _, false) => Kind::Write,
    };
    let policy = match &options.codec {
        None => Policy::Fixed("Proto"),
        Some(CodecOption::Named(lit)) if lit.value() == "auto" => Policy::Auto,
        Some(CodecOption::Named(lit)) => Policy::Fixed(codec_variant(lit, diag)),
        Some(CodecOption::BySize {
            span,
            small,
            large,
            threshold,
        }) => match (small, large, threshold) {
            (Some(s), Some(l), Some(t)) => Policy::BySize {
                small: codec_variant(s, diag),
                large: codec_variant(l, diag),
                threshold: t.base10_parse().unwrap_or_else(|e| {
                    diag.push(e);
                    0
                }),
            },
            _ => {
                diag.push(syn::Error::new(
                    *span,
                    "codec(...) needs all of small = \"codec\", large = \"codec\", threshold = BYTES",
                ));
                Policy::Fixed("Proto")
            }
        },
    };
    let deadline_ms =
        options
            .deadline_ms
            .as_ref()
            .and_then(|lit| match lit.base10_parse::<u64>() {
                Ok(0) | Err(_) => {
                    diag.error(lit, "deadline_ms is a positive number of milliseconds");
                    None
                }
                Ok(ms) => Some(ms),
            });
    let max_message_bytes =
        options
            .max_message_bytes
            .as_ref()
            .and_then(|lit| match lit.base10_parse::<u64>() {
                Ok(n) if (1..=u64::from(u32::MAX)).contains(&n) => Some(n),
                _ => {
                    diag.error(
                        lit,
                        "max_message_bytes is a positive number of bytes, at most 4294967295 \
                         (a gRPC frame's length is 32 bits)",
                    );
                    None
                }
            });
    let compress = options.compress.as_ref().and_then(|lit| {
        let value = lit.value();
        let variant = COMPRESSIONS
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, variant)| *variant);
        if variant.is_none() {
            diag.error(
                lit,
                format!("unknown compression `{value}`; expected gzip, deflate, zstd or off"),
            );
        }
        variant
    });
    let compress_min_bytes =
        options
            .compress_min_bytes
            .as_ref()
            .and_then(|lit| match lit.base10_parse::<u64>() {
                Ok(n) => Some(n),
                Err(e) => {
                    diag.push(e);
                    None
                }
            });
    let (grpc_name, name_span) = match &options.name {
        Some(lit) => (lit.value(), lit.span()),
        None => (camel(&sig.ident), sig.ident.span()),
    };
    if diag_count(diag) > before {
        return None;
    }
    Some(Method {
        ident: &sig.ident,
        grpc_name,
        name_span,
        kind,
        idempotent: kind == Kind::Read || options.idempotent.is_some(),
        request: request?,
        response: response?,
        policy,
        deadline_ms,
        max_message_bytes,
        compress,
        compress_min_bytes,
    })
}

fn diag_count(diag: &Diagnostics) -> usize {
    diag.count()
}

/// `Result<T, Status>` → `T`.
fn response_type<'a>(sig: &'a syn::Signature, diag: &mut Diagnostics) -> Option<&'a Type> {
    let found = match &sig.output {
        ReturnType::Default => {
            diag.push(syn::Error::new(
                sig.paren_token.span.close(),
                "expected a return type `-> Result<Response, arpc::Status>` after `)`, found none",
            ));
            return None;
        }
        ReturnType::Type(_, ty) => ty,
    };
    if let Type::Path(p) = &**found
        && let Some(last) = p.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(args) = &last.arguments
    {
        let types: Vec<_> = args
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect();
        if let [ok, err] = types.as_slice() {
            let is_status = matches!(err, Type::Path(e) if e.path.segments.last().is_some_and(|s| s.ident == "Status"));
            if is_status {
                return Some(ok);
            }
            diag.error(
                err,
                "expected the error type `arpc::Status`: it is what travels back to the caller",
            );
            return None;
        }
    }
    diag.error(
        found,
        format!(
            "expected `Result<Response, arpc::Status>`, found `{}`",
            quote::quote!(#found).to_string().replace(' ', "")
        ),
    );
    None
}
