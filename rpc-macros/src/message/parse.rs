//! Step 1: read the item and its `#[arpc(...)]` attributes; nothing is interpreted yet.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, ExprLit, ExprUnary, Fields, Ident, Lit, Type, UnOp};

use crate::diagnostics::Diagnostics;

/// The item as written.
pub(crate) struct Parsed<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) body: Body<'a>,
}

pub(crate) enum Body<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

/// A named struct field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) tag: Option<Tag>,
}

/// An enum variant: unit, or holding one value.
pub(crate) struct Variant<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) payload: Option<&'a Type>,
    /// `= N` on a unit variant, as a number.
    pub(crate) discriminant: Option<(i64, Span)>,
    pub(crate) tag: Option<Tag>,
}

/// `#[arpc(tag = N)]`.
#[derive(Clone, Copy)]
pub(crate) struct Tag {
    pub(crate) value: u32,
    pub(crate) span: Span,
}

pub(crate) fn parse<'a>(input: &'a DeriveInput, diag: &mut Diagnostics) -> Option<Parsed<'a>> {
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("arpc")) {
        diag.error(
            attr,
            "#[arpc(...)] on the type takes no options yet; use #[arpc(tag = N)] on fields",
        );
    }
    if !input.generics.params.is_empty() {
        diag.error(
            &input.generics,
            "arpc messages cannot be generic: each message has one schema; define a concrete \
             type per instantiation",
        );
    }
    let body = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Body::Struct(
                named
                    .named
                    .iter()
                    .map(|f| Field {
                        ident: f.ident.as_ref().expect("named field"),
                        ty: &f.ty,
                        tag: tag_attr(&f.attrs, diag),
                    })
                    .collect(),
            ),
            Fields::Unnamed(_) => {
                diag.error(
                    &input.ident,
                    "arpc messages need named fields (the JSON and MessagePack codecs write field \
                     names); write `struct Name { field: Type }`",
                );
                return None;
            }
            Fields::Unit => {
                diag.error(
                    &input.ident,
                    "a unit struct cannot be an arpc message; write `struct Name {}` for an empty \
                     message",
                );
                return None;
            }
        },
        Data::Enum(data) => {
            if data.variants.is_empty() {
                diag.error(
                    &input.ident,
                    "an arpc enum needs at least one variant (a protobuf enum needs a zero value)",
                );
                return None;
            }
            Body::Enum(
                data.variants
                    .iter()
                    .map(|v| parse_variant(v, diag))
                    .collect(),
            )
        }
        Data::Union(u) => {
            diag.error(
                u.union_token,
                "unions cannot be arpc messages; use a struct or an enum",
            );
            return None;
        }
    };
    Some(Parsed {
        ident: &input.ident,
        body,
    })
}

fn parse_variant<'a>(v: &'a syn::Variant, diag: &mut Diagnostics) -> Variant<'a> {
    let payload = match &v.fields {
        Fields::Unit => None,
        Fields::Unnamed(f) if f.unnamed.len() == 1 => Some(&f.unnamed[0].ty),
        other => {
            diag.error(
                other,
                format!(
                    "variant `{}` is not supported: arpc enum variants are unit (`A`) or hold one \
                     value (`A(T)`); wrap several values in an #[arpc::message] struct",
                    v.ident
                ),
            );
            None
        }
    };
    let discriminant = v.discriminant.as_ref().and_then(|(_, expr)| {
        let value = int_literal(expr);
        if value.is_none() {
            diag.error(
                expr,
                "an arpc enum discriminant must be an integer literal, such as `= 3` or `= -1`",
            );
        }
        value.map(|n| (n, expr.span()))
    });
    Variant {
        ident: &v.ident,
        payload,
        discriminant,
        tag: tag_attr(&v.attrs, diag),
    }
}

fn int_literal(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => int_literal(expr).map(|n| -n),
        Expr::Group(g) => int_literal(&g.expr),
        _ => None,
    }
}

fn tag_attr(attrs: &[syn::Attribute], diag: &mut Diagnostics) -> Option<Tag> {
    let mut tag = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("arpc")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tag") {
                let lit: syn::LitInt = meta.value()?.parse()?;
                let value = lit.base10_parse::<u32>().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        "a field number is a whole number from 1 to 536870911",
                    )
                })?;
                if tag.is_some() {
                    return Err(meta.error("`tag` is given twice"));
                }
                tag = Some(Tag {
                    value,
                    span: lit.span(),
                });
                Ok(())
            } else {
                Err(meta.error("unknown arpc option; fields and variants accept `tag = N`"))
            }
        });
        if let Err(e) = result {
            diag.push(e);
        }
    }
    tag
}
