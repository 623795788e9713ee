//! Step 2: what each field is on the protobuf wire. Field numbers are assigned here
//! (declaration order from 1, `#[arpc(tag = N)]` restarts the count at N), and every type is
//! sorted into a shape: plain, `Option`, `Vec`, map.

use proc_macro2::Span;
use syn::{GenericArgument, Ident, PathArguments, Type, TypePath};

use super::parse::{Body, Parsed};
use crate::diagnostics::Diagnostics;

/// The message as the expansion sees it.
pub(crate) struct Model<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) kind: Kind<'a>,
}

pub(crate) enum Kind<'a> {
    /// A struct: a protobuf message.
    Struct(Vec<FieldModel<'a>>),
    /// A unit-only enum: a protobuf enum.
    Enum(Vec<EnumValue<'a>>),
    /// An enum with data: a message holding one oneof.
    Oneof(Vec<Member<'a>>),
}

pub(crate) struct FieldModel<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) number: Number,
    pub(crate) shape: Shape<'a>,
}

/// A field number and where it came from (for diagnostics).
#[derive(Clone, Copy)]
pub(crate) struct Number {
    pub(crate) value: u32,
    pub(crate) span: Span,
}

/// How a field's type maps to protobuf cardinality; each holds the element type(s).
pub(crate) enum Shape<'a> {
    Singular(&'a Type),
    Optional(&'a Type),
    Repeated(&'a Type),
    Map(&'a Type, &'a Type),
}

pub(crate) struct EnumValue<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) number: i64,
    pub(crate) span: Span,
}

pub(crate) struct Member<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) number: Number,
    /// `None` for a unit variant.
    pub(crate) ty: Option<&'a Type>,
}

pub(crate) fn build<'a>(parsed: Parsed<'a>, diag: &mut Diagnostics) -> Model<'a> {
    let kind = match parsed.body {
        Body::Struct(fields) => {
            let mut next = 1;
            Kind::Struct(
                fields
                    .into_iter()
                    .map(|f| {
                        let number = number(f.tag, f.ident.span(), &mut next);
                        let shape = classify(f.ty, diag);
                        FieldModel {
                            ident: f.ident,
                            ty: f.ty,
                            number,
                            shape,
                        }
                    })
                    .collect(),
            )
        }
        Body::Enum(variants) if variants.iter().all(|v| v.payload.is_none()) => {
            let mut next = 0i64;
            Kind::Enum(
                variants
                    .into_iter()
                    .map(|v| {
                        if let Some(tag) = v.tag {
                            diag.push(syn::Error::new(
                                tag.span,
                                "a unit-only enum is a protobuf enum: its values are the Rust \
                                 discriminants; write `Variant = N` instead of #[arpc(tag = N)]",
                            ));
                        }
                        let (number, span) = v.discriminant.unwrap_or((next, v.ident.span()));
                        next = number.saturating_add(1);
                        EnumValue {
                            ident: v.ident,
                            number,
                            span,
                        }
                    })
                    .collect(),
            )
        }
        Body::Enum(variants) => {
            let mut next = 1;
            Kind::Oneof(
                variants
                    .into_iter()
                    .map(|v| {
                        if let Some((_, span)) = v.discriminant {
                            diag.push(syn::Error::new(
                                span,
                                "an enum with data is a oneof: number its variants with \
                                 #[arpc(tag = N)], not `= N`",
                            ));
                        }
                        let number = number(v.tag, v.ident.span(), &mut next);
                        if let Some(ty) = v.payload
                            && !matches!(classify(ty, diag), Shape::Singular(_))
                        {
                            diag.error(
                                ty,
                                "a oneof member holds one value: Option, Vec and maps cannot \
                                 be variant payloads; wrap them in an #[arpc::message] struct",
                            );
                        }
                        Member {
                            ident: v.ident,
                            number,
                            ty: v.payload,
                        }
                    })
                    .collect(),
            )
        }
    };
    Model {
        ident: parsed.ident,
        kind,
    }
}

fn number(tag: Option<super::parse::Tag>, span: Span, next: &mut u32) -> Number {
    let number = match tag {
        Some(tag) => Number {
            value: tag.value,
            span: tag.span,
        },
        None => Number { value: *next, span },
    };
    *next = number.value.saturating_add(1);
    number
}

/// The last path segment's name and its angle-bracketed type arguments.
fn segment(ty: &Type) -> Option<(&Ident, Vec<&Type>)> {
    let Type::Path(TypePath { qself: None, path }) = ty else {
        return None;
    };
    let last = path.segments.last()?;
    let args = match &last.arguments {
        PathArguments::None => Vec::new(),
        PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        PathArguments::Parenthesized(_) => return None,
    };
    Some((&last.ident, args))
}

const SCALARS: &[&str] = &[
    "bool", "i8", "i16", "i32", "i64", "isize", "u8", "u16", "u32", "u64", "usize", "f32", "f64",
    "String",
];
const MAP_KEYS: &[&str] = &[
    "bool", "i8", "i16", "i32", "i64", "isize", "u8", "u16", "u32", "u64", "usize", "String",
];

fn is_named(ty: &Type, names: &[&str]) -> bool {
    segment(ty).is_some_and(|(id, args)| args.is_empty() && names.iter().any(|n| id == n))
}

fn is_vec_u8(ty: &Type) -> bool {
    segment(ty)
        .is_some_and(|(id, args)| id == "Vec" && args.len() == 1 && is_named(args[0], &["u8"]))
}

/// Sorts a field type into a shape, reporting what is not supported.
pub(crate) fn classify<'a>(ty: &'a Type, diag: &mut Diagnostics) -> Shape<'a> {
    if let Some((id, args)) = segment(ty) {
        match (id.to_string().as_str(), args.as_slice()) {
            ("Option", [inner]) => {
                check_element(inner, "Option<...>", diag);
                return Shape::Optional(inner);
            }
            ("Vec", [inner]) if !is_named(inner, &["u8"]) => {
                check_element(inner, "Vec<...>", diag);
                return Shape::Repeated(inner);
            }
            ("HashMap", [key, value, ..]) | ("BTreeMap", [key, value]) => {
                if !is_named(key, MAP_KEYS) {
                    diag.error(
                        key,
                        "a map key must be an integer, bool or String (protobuf allows no other \
                         key types)",
                    );
                }
                check_element(value, "a map value", diag);
                return Shape::Map(key, value);
            }
            _ => {}
        }
    }
    check_element(ty, "", diag);
    Shape::Singular(ty)
}

/// Checks a type that stands for one value on the wire. `within` names the container it is
/// in, for messages about nesting.
fn check_element(ty: &Type, within: &str, diag: &mut Diagnostics) {
    const SUPPORTED: &str = "supported field types: bool, integers up to 64 bits, f32, f64, \
        String, Vec<u8>, bytes::Bytes, Option<T>, Vec<T>, HashMap/BTreeMap<K, V>, and \
        #[arpc::message] types";
    if is_named(ty, SCALARS) || is_vec_u8(ty) {
        return;
    }
    let Some((id, args)) = segment(ty) else {
        let what = match ty {
            Type::Reference(_) => {
                "borrowed types are not supported: messages own their data (String, Vec<u8>, ...)"
            }
            Type::Tuple(_) => "tuples are not supported: use an #[arpc::message] struct",
            Type::Array(_) | Type::Slice(_) => "arrays and slices are not supported: use Vec<T>",
            _ => "this type is not supported",
        };
        diag.error(ty, format!("{what}; {SUPPORTED}"));
        return;
    };
    let name = id.to_string();
    let message = match name.as_str() {
        "Option" | "Vec" | "HashMap" | "BTreeMap" if !within.is_empty() => format!(
            "{name} inside {within} has no protobuf equivalent; wrap the inner value in an \
             #[arpc::message] struct"
        ),
        "u128" | "i128" => format!(
            "{name} is not supported: protobuf integers are at most 64 bits; split it into two \
             u64 fields or send it as bytes"
        ),
        "char" => "char is not supported: use String, or u32 for a code point".to_owned(),
        "str" => "str is not supported: use String".to_owned(),
        "Box" | "Rc" | "Arc" | "Cow" => {
            format!("{name}<...> is not supported; use the inner type directly ({SUPPORTED})")
        }
        _ if !args.is_empty() => {
            format!("generic type `{name}<...>` is not supported; {SUPPORTED}")
        }
        "Bytes" => return,
        // Any other path: a user type, which must itself be an arpc message or enum. The
        // compiler checks that through the `ProtoElem` bound the expansion spans on it.
        _ => return,
    };
    diag.error(ty, message);
}
