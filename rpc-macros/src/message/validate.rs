//! Step 3: rules that span fields: field numbers valid and unique, enum values valid, unique
//! and including zero.

use std::collections::HashMap;

use super::model::{Kind, Model, Number};
use crate::diagnostics::Diagnostics;

const MAX_FIELD_NUMBER: u32 = (1 << 29) - 1;
const RESERVED: std::ops::RangeInclusive<u32> = 19_000..=19_999;

pub(crate) fn validate(model: &Model<'_>, diag: &mut Diagnostics) {
    match &model.kind {
        Kind::Struct(fields) => {
            check_numbers(fields.iter().map(|f| (f.ident.to_string(), f.number)), diag);
        }
        Kind::Oneof(members) => {
            check_numbers(
                members.iter().map(|m| (m.ident.to_string(), m.number)),
                diag,
            );
        }
        Kind::Enum(values) => {
            let mut seen: HashMap<i64, String> = HashMap::new();
            for v in values {
                if i32::try_from(v.number).is_err() {
                    diag.push(syn::Error::new(
                        v.span,
                        format!("enum value {} does not fit protobuf's int32", v.number),
                    ));
                }
                if let Some(first) = seen.insert(v.number, v.ident.to_string()) {
                    diag.push(syn::Error::new(
                        v.span,
                        format!("enum value {} is used by `{first}` already", v.number),
                    ));
                }
            }
            if !seen.contains_key(&0) {
                diag.error(
                    model.ident,
                    format!(
                        "enum `{}` needs a variant with value 0: proto3 decodes a missing field \
                         as 0; add one (`Unknown = 0`) or number the first variant 0",
                        model.ident
                    ),
                );
            }
        }
    }
}

fn check_numbers(numbers: impl Iterator<Item = (String, Number)>, diag: &mut Diagnostics) {
    let mut seen: HashMap<u32, String> = HashMap::new();
    for (name, number) in numbers {
        let n = number.value;
        if n == 0 || n > MAX_FIELD_NUMBER {
            diag.push(syn::Error::new(
                number.span,
                format!(
                    "field number {n} of `{name}` is out of range: use 1 to {MAX_FIELD_NUMBER}"
                ),
            ));
        } else if RESERVED.contains(&n) {
            diag.push(syn::Error::new(
                number.span,
                format!(
                    "field number {n} of `{name}` is reserved by protobuf (19000 to 19999); pick \
                     another with #[arpc(tag = N)]"
                ),
            ));
        }
        if let Some(first) = seen.insert(n, name.clone()) {
            diag.push(syn::Error::new(
                number.span,
                format!(
                    "field number {n} of `{name}` is used by `{first}` already; give one of them \
                     another with #[arpc(tag = N)]"
                ),
            ));
        }
    }
}
