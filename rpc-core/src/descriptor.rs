//! Protobuf descriptors (`google.protobuf.FileDescriptorProto`) built from a service's schema:
//! what [server reflection](crate::reflection) serves, so tools such as `grpcurl` or Python's
//! `grpcio-reflection` can list and call an arpc service without its `.proto` file.
//!
//! The descriptor describes exactly what `arpc-codegen` renders as `.proto` text (both take
//! their names from [`crate::schema::ServiceTypes`] and its naming functions), and what
//! `protoc` would produce from that text: map fields get their synthesized `…Entry` message,
//! proto3 `optional` fields their synthetic oneof, and `json_name`s are set as `protoc` sets
//! them.

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, MessageOptions, MethodDescriptorProto, OneofDescriptorProto,
    ServiceDescriptorProto,
};

use crate::schema::{
    ElemType, EnumSchema, FieldSchema, FieldType, MessageKind, MessageSchema, NameClash,
    ONEOF_NAME, ReachedType, ScalarType, ServiceSchema, ServiceTypes, enum_value_name,
    enum_values_zero_first, oneof_member_name,
};

/// The file that defines `google.protobuf.Empty`, which unit variants of enums with data use.
pub const EMPTY_FILE: &str = "google/protobuf/empty.proto";

/// The descriptor file name arpc gives a service: `{package}.{Service}.proto`.
pub fn file_name(service: &ServiceSchema) -> String {
    format!("{}.proto", service.full_name)
}

/// The descriptor of `service` and every type it reaches, as one proto3 file.
pub fn file_descriptor(service: &ServiceSchema) -> Result<FileDescriptorProto, NameClash> {
    let types = ServiceTypes::of(service)?;
    let scope = Scope(service.package);
    let mut file = FileDescriptorProto {
        name: Some(file_name(service)),
        package: (!service.package.is_empty()).then(|| service.package.to_owned()),
        syntax: Some("proto3".to_owned()),
        ..Default::default()
    };
    if types.uses_empty {
        file.dependency.push(EMPTY_FILE.to_owned());
    }
    for item in &types.types {
        match item {
            ReachedType::Message(m) => file.message_type.push(message(scope, m)),
            ReachedType::Enum(e) => file.enum_type.push(enumeration(e)),
        }
    }
    file.service.push(ServiceDescriptorProto {
        name: Some(service.name.to_owned()),
        method: service
            .methods
            .iter()
            .map(|m| MethodDescriptorProto {
                name: Some(m.name.to_owned()),
                input_type: Some(scope.qualify((m.request)().name)),
                output_type: Some(scope.qualify((m.response)().name)),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    Ok(file)
}

/// `google/protobuf/empty.proto`, for services whose types use `google.protobuf.Empty`.
pub fn empty_file() -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(EMPTY_FILE.to_owned()),
        package: Some("google.protobuf".to_owned()),
        message_type: vec![DescriptorProto {
            name: Some("Empty".to_owned()),
            ..Default::default()
        }],
        syntax: Some("proto3".to_owned()),
        ..Default::default()
    }
}

/// The package types are declared in.
#[derive(Clone, Copy)]
struct Scope(&'static str);

impl Scope {
    /// A fully qualified type reference (`.hello.v1.HelloRequest`).
    fn qualify(self, name: &str) -> String {
        if self.0.is_empty() {
            format!(".{name}")
        } else {
            format!(".{}.{name}", self.0)
        }
    }
}

fn message(scope: Scope, m: &MessageSchema) -> DescriptorProto {
    let mut out = DescriptorProto {
        name: Some(m.name.to_owned()),
        ..Default::default()
    };
    match m.kind {
        MessageKind::Oneof(members) => {
            out.oneof_decl.push(OneofDescriptorProto {
                name: Some(ONEOF_NAME.to_owned()),
                ..Default::default()
            });
            for f in members {
                let name = oneof_member_name(f.name);
                let mut field = field(scope, &name, f.number, f.ty.elem(), Label::Optional);
                field.oneof_index = Some(0);
                out.field.push(field);
            }
        }
        MessageKind::Struct(fields) => {
            // Synthetic oneofs of proto3 `optional` fields come after real oneofs (there are
            // none in a struct), in field order, as protoc orders them.
            for f in fields {
                out.field
                    .push(struct_field(scope, m, f, &mut out.nested_type));
                if let FieldType::Optional(_) = f.ty {
                    let index = i32::try_from(out.oneof_decl.len()).unwrap_or(i32::MAX);
                    out.oneof_decl.push(OneofDescriptorProto {
                        name: Some(format!("_{}", f.name)),
                        ..Default::default()
                    });
                    if let Some(field) = out.field.last_mut() {
                        field.oneof_index = Some(index);
                        field.proto3_optional = Some(true);
                    }
                }
            }
        }
    }
    out
}

fn struct_field(
    scope: Scope,
    m: &MessageSchema,
    f: &FieldSchema,
    nested: &mut Vec<DescriptorProto>,
) -> FieldDescriptorProto {
    match f.ty {
        FieldType::Singular(e) | FieldType::Optional(e) => {
            field(scope, f.name, f.number, e, Label::Optional)
        }
        FieldType::Repeated(e) => field(scope, f.name, f.number, e, Label::Repeated),
        FieldType::Map(key, value) => {
            let entry = format!("{}Entry", camel(f.name));
            nested.push(DescriptorProto {
                name: Some(entry.clone()),
                field: vec![
                    field(scope, "key", 1, ElemType::Scalar(key), Label::Optional),
                    field(scope, "value", 2, value, Label::Optional),
                ],
                options: Some(MessageOptions {
                    map_entry: Some(true),
                    ..Default::default()
                }),
                ..Default::default()
            });
            let mut out = field(scope, f.name, f.number, value, Label::Repeated);
            out.r#type = Some(Type::Message as i32);
            out.type_name = Some(scope.qualify(&format!("{}.{entry}", m.name)));
            out
        }
    }
}

fn field(
    scope: Scope,
    name: &str,
    number: u32,
    elem: ElemType,
    label: Label,
) -> FieldDescriptorProto {
    let (ty, type_name) = match elem {
        ElemType::Scalar(s) => (scalar(s), None),
        ElemType::Message(m) => (Type::Message, Some(scope.qualify(m().name))),
        ElemType::Enum(e) => (Type::Enum, Some(scope.qualify(e().name))),
        ElemType::Empty => (Type::Message, Some(".google.protobuf.Empty".to_owned())),
    };
    FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(i32::try_from(number).unwrap_or(i32::MAX)),
        label: Some(label as i32),
        r#type: Some(ty as i32),
        type_name,
        json_name: Some(json_name(name)),
        ..Default::default()
    }
}

fn enumeration(e: &EnumSchema) -> EnumDescriptorProto {
    EnumDescriptorProto {
        name: Some(e.name.to_owned()),
        value: enum_values_zero_first(e)
            .into_iter()
            .map(|v| EnumValueDescriptorProto {
                name: Some(enum_value_name(e, v)),
                number: Some(v.number),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn scalar(s: ScalarType) -> Type {
    match s {
        ScalarType::Bool => Type::Bool,
        ScalarType::Int32 => Type::Int32,
        ScalarType::Int64 => Type::Int64,
        ScalarType::Uint32 => Type::Uint32,
        ScalarType::Uint64 => Type::Uint64,
        ScalarType::Float => Type::Float,
        ScalarType::Double => Type::Double,
        ScalarType::String => Type::String,
        ScalarType::Bytes => Type::Bytes,
    }
}

/// protoc's JSON name: underscores dropped, the letter after each one upper-cased
/// (`reply_padding` → `replyPadding`).
fn json_name(field: &str) -> String {
    camel_case(field, false)
}

/// protoc's map-entry name: `per_zone` → `PerZone` (then `Entry` is appended).
fn camel(field: &str) -> String {
    camel_case(field, true)
}

fn camel_case(field: &str, upper_first: bool) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = upper_first;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
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
    fn names_follow_protoc() {
        assert_eq!(json_name("reply_padding"), "replyPadding");
        assert_eq!(json_name("name"), "name");
        assert_eq!(camel("per_zone"), "PerZone");
        assert_eq!(camel("labels"), "Labels");
    }
}
