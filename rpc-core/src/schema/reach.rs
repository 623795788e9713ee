//! Which types a service reaches, and the protobuf names arpc gives them: the one place both
//! renderings of a schema (the `.proto` text of `arpc-codegen` and the descriptors that
//! [server reflection](crate::reflection) serves) take their names from, so the two cannot
//! disagree.
//!
//! Names: messages and enums keep their Rust names; fields keep theirs (snake_case); oneof
//! members are the variant name in snake_case; enum values are `ENUM_NAME_VARIANT_NAME` in
//! UPPER_SNAKE (protobuf enum values share their package's scope, so they carry their enum's
//! name).

use std::collections::HashMap;

use super::{ElemType, EnumSchema, EnumValue, MessageSchema, ServiceSchema};

/// A type a service reaches.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ReachedType {
    /// A message (a struct, or an enum with data).
    Message(&'static MessageSchema),
    /// A protobuf enum (a unit-only Rust enum).
    Enum(&'static EnumSchema),
}

/// Every type a service's methods reach, in first-reached order (methods in declaration
/// order, request before response, depth first).
#[derive(Debug, Clone)]
pub struct ServiceTypes {
    /// The types, each once.
    pub types: Vec<ReachedType>,
    /// Whether some field is `google.protobuf.Empty` (a unit variant of an enum with data).
    pub uses_empty: bool,
}

/// Two different Rust types would get the same protobuf name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "two types are named `{name}` (in `{first}` and `{second}`); protobuf names must be unique \
     within a package: rename one of them"
)]
pub struct NameClash {
    /// The clashing name.
    pub name: String,
    /// Module of the first type.
    pub first: String,
    /// Module of the second type.
    pub second: String,
}

impl ServiceTypes {
    /// Walks `service`'s methods.
    pub fn of(service: &ServiceSchema) -> Result<Self, NameClash> {
        let mut walk = Walk {
            out: Self {
                types: Vec::new(),
                uses_empty: false,
            },
            seen: HashMap::new(),
        };
        for m in service.methods {
            walk.message((m.request)())?;
            walk.message((m.response)())?;
        }
        Ok(walk.out)
    }
}

struct Walk {
    out: ServiceTypes,
    seen: HashMap<&'static str, &'static str>,
}

impl Walk {
    /// Whether `name` is new; an error if another module already used it.
    fn claim(&mut self, name: &'static str, module: &'static str) -> Result<bool, NameClash> {
        match self.seen.get(name) {
            Some(m) if *m == module => Ok(false),
            Some(m) => Err(NameClash {
                name: name.to_owned(),
                first: (*m).to_owned(),
                second: module.to_owned(),
            }),
            None => {
                self.seen.insert(name, module);
                Ok(true)
            }
        }
    }

    fn message(&mut self, m: &'static MessageSchema) -> Result<(), NameClash> {
        if !self.claim(m.name, m.rust_module)? {
            return Ok(());
        }
        self.out.types.push(ReachedType::Message(m));
        for f in m.fields() {
            self.elem(f.ty.elem())?;
        }
        Ok(())
    }

    fn elem(&mut self, e: ElemType) -> Result<(), NameClash> {
        match e {
            ElemType::Message(m) => self.message(m()),
            ElemType::Enum(e) => {
                let e = e();
                if self.claim(e.name, e.rust_module)? {
                    self.out.types.push(ReachedType::Enum(e));
                }
                Ok(())
            }
            ElemType::Empty => {
                self.out.uses_empty = true;
                Ok(())
            }
            ElemType::Scalar(_) => Ok(()),
        }
    }
}

/// The name of the oneof that holds an enum-with-data message's variants.
pub const ONEOF_NAME: &str = "value";

/// The protobuf name of a oneof member (`FreeShipping` → `free_shipping`).
pub fn oneof_member_name(variant: &str) -> String {
    snake(variant)
}

/// The protobuf name of an enum value (`Tier::Vip` → `TIER_VIP`).
pub fn enum_value_name(enumeration: &EnumSchema, value: &EnumValue) -> String {
    format!(
        "{}_{}",
        snake(enumeration.name).to_uppercase(),
        snake(value.name).to_uppercase()
    )
}

/// An enum's values with the zero value first, as proto3 requires.
pub fn enum_values_zero_first(enumeration: &EnumSchema) -> Vec<&'static EnumValue> {
    let mut values: Vec<_> = enumeration.values.iter().collect();
    values.sort_by_key(|v| v.number != 0);
    values
}

/// `FreeShipping` → `free_shipping`; `already_snake` stays.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_convert() {
        assert_eq!(oneof_member_name("FreeShipping"), "free_shipping");
        assert_eq!(oneof_member_name("already_snake"), "already_snake");
        static E: EnumSchema = EnumSchema::new("DisplayScreen", "m", &[]);
        assert_eq!(
            enum_value_name(&E, &EnumValue::new("Vip", 1)),
            "DISPLAY_SCREEN_VIP"
        );
    }
}
