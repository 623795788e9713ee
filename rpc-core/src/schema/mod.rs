//! The runtime schema model: what a message looks like on the protobuf wire.
//!
//! `#[derive(arpc::Message)]` builds one [`MessageSchema`] (or [`EnumSchema`]) per type as a
//! `static`, with no allocation. The `.proto` emitter in `arpc-codegen` renders these, and the
//! service macro of a later layer reuses them, so nobody parses Rust twice.
//!
//! References to other types are function pointers (`fn() -> &'static MessageSchema`), which
//! lets recursive types (`struct Node { children: Vec<Node> }`) describe themselves.

use std::fmt;

mod reach;

pub use self::reach::{
    NameClash, ONEOF_NAME, ReachedType, ServiceTypes, enum_value_name, enum_values_zero_first,
    oneof_member_name,
};

/// A message type: a Rust struct (a protobuf `message`) or a Rust enum with data (a protobuf
/// `message` holding a single `oneof`).
#[derive(Debug)]
#[non_exhaustive]
pub struct MessageSchema {
    /// The Rust type name, used as the protobuf message name.
    pub name: &'static str,
    /// `module_path!()` of the type's definition, to tell apart types of the same name.
    pub rust_module: &'static str,
    /// Struct fields or oneof members.
    pub kind: MessageKind,
}

impl MessageSchema {
    /// Builds a schema; used by the derive.
    pub const fn new(name: &'static str, rust_module: &'static str, kind: MessageKind) -> Self {
        Self {
            name,
            rust_module,
            kind,
        }
    }

    /// The fields of a struct, or the members of a oneof, in declaration order.
    pub fn fields(&self) -> &'static [FieldSchema] {
        match self.kind {
            MessageKind::Struct(fields) | MessageKind::Oneof(fields) => fields,
        }
    }

    /// Looks a field (or oneof member) up by its number.
    pub fn field_by_number(&self, number: u32) -> Option<&'static FieldSchema> {
        self.fields().iter().find(|f| f.number == number)
    }
}

/// What a [`MessageSchema`] contains.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum MessageKind {
    /// A struct: each field is a protobuf field.
    Struct(&'static [FieldSchema]),
    /// An enum with data: the message holds one `oneof value { … }` whose members are the
    /// variants. Each member is [`FieldType::Singular`].
    Oneof(&'static [FieldSchema]),
}

/// A unit-only Rust enum: a protobuf `enum`.
#[derive(Debug)]
#[non_exhaustive]
pub struct EnumSchema {
    /// The Rust type name, used as the protobuf enum name.
    pub name: &'static str,
    /// `module_path!()` of the type's definition.
    pub rust_module: &'static str,
    /// The values in declaration order; one of them is 0.
    pub values: &'static [EnumValue],
}

impl EnumSchema {
    /// Builds a schema; used by the derive.
    pub const fn new(
        name: &'static str,
        rust_module: &'static str,
        values: &'static [EnumValue],
    ) -> Self {
        Self {
            name,
            rust_module,
            values,
        }
    }
}

/// One value of a protobuf enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnumValue {
    /// The Rust variant name.
    pub name: &'static str,
    /// The wire number (the Rust discriminant).
    pub number: i32,
}

impl EnumValue {
    /// Builds a value; used by the derive.
    pub const fn new(name: &'static str, number: i32) -> Self {
        Self { name, number }
    }
}

/// One field of a message, or one member of a oneof.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct FieldSchema {
    /// The Rust field (or variant) name.
    pub name: &'static str,
    /// The protobuf field number: declaration order from 1, or `#[arpc(tag = N)]`.
    pub number: u32,
    /// Cardinality and type.
    pub ty: FieldType,
}

impl FieldSchema {
    /// Builds a field; used by the derive.
    pub const fn new(name: &'static str, number: u32, ty: FieldType) -> Self {
        Self { name, number, ty }
    }
}

/// Cardinality and element type of a field.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum FieldType {
    /// A plain field (`T`): proto3 implicit presence for scalars, explicit for messages.
    Singular(ElemType),
    /// `Option<T>`: proto3 `optional`.
    Optional(ElemType),
    /// `Vec<T>`: `repeated`, packed for numeric scalars and enums.
    Repeated(ElemType),
    /// `HashMap<K, V>` or `BTreeMap<K, V>`: `map<K, V>`.
    Map(ScalarType, ElemType),
}

impl FieldType {
    /// The element type, whatever the cardinality (the value type for maps).
    pub fn elem(&self) -> ElemType {
        match *self {
            Self::Singular(e) | Self::Optional(e) | Self::Repeated(e) | Self::Map(_, e) => e,
        }
    }
}

/// The type of one value on the wire.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum ElemType {
    /// A protobuf scalar.
    Scalar(ScalarType),
    /// A nested message (a struct or an enum with data).
    Message(fn() -> &'static MessageSchema),
    /// A protobuf enum (a unit-only Rust enum).
    Enum(fn() -> &'static EnumSchema),
    /// An empty message, for unit variants of an enum with data (`google.protobuf.Empty`).
    Empty,
}

impl fmt::Debug for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scalar(s) => write!(f, "Scalar({s:?})"),
            Self::Message(m) => write!(f, "Message({})", m().name),
            Self::Enum(e) => write!(f, "Enum({})", e().name),
            Self::Empty => f.write_str("Empty"),
        }
    }
}

/// The protobuf scalar types arpc maps Rust types to.
///
/// Rust integers narrower than 32 bits are widened (`u8` → `uint32`, `i16` → `int32`); a
/// decoded value that does not fit the Rust type is a decode error, never a silent truncation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScalarType {
    /// `bool`
    Bool,
    /// `i8`, `i16`, `i32`
    Int32,
    /// `i64`, `isize`
    Int64,
    /// `u8`, `u16`, `u32`
    Uint32,
    /// `u64`, `usize`
    Uint64,
    /// `f32`
    Float,
    /// `f64`
    Double,
    /// `String`
    String,
    /// `Vec<u8>`, `bytes::Bytes`
    Bytes,
}

impl ScalarType {
    /// The protobuf type name (`uint32`, `string`, ...).
    pub fn proto_name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Uint32 => "uint32",
            Self::Uint64 => "uint64",
            Self::Float => "float",
            Self::Double => "double",
            Self::String => "string",
            Self::Bytes => "bytes",
        }
    }
}

/// A service: what `#[arpc::service]` describes for the `.proto` emitter and for routing.
#[derive(Debug)]
#[non_exhaustive]
pub struct ServiceSchema {
    /// The protobuf package (`datahub.v1`), possibly empty.
    pub package: &'static str,
    /// The service name (the trait's name unless renamed).
    pub name: &'static str,
    /// `package.Service`, as it appears in request paths.
    pub full_name: &'static str,
    /// The methods in declaration order.
    pub methods: &'static [MethodSchema],
}

impl ServiceSchema {
    /// Builds a schema; used by the service macro.
    pub const fn new(
        package: &'static str,
        name: &'static str,
        full_name: &'static str,
        methods: &'static [MethodSchema],
    ) -> Self {
        Self {
            package,
            name,
            full_name,
            methods,
        }
    }
}

/// One unary method.
#[derive(Debug)]
#[non_exhaustive]
pub struct MethodSchema {
    /// The gRPC method name (`SayHello`).
    pub name: &'static str,
    /// The Rust method name (`say_hello`).
    pub rust_name: &'static str,
    /// `/{package}.{Service}/{Method}`.
    pub path: &'static str,
    /// The request type.
    pub request: fn() -> &'static MessageSchema,
    /// The response type.
    pub response: fn() -> &'static MessageSchema,
    /// Read (async, on the runtime) or write (blocking, on the pool).
    pub kind: MethodKind,
    /// Whether a failed call may be retried: reads are, writes only when marked.
    pub idempotent: bool,
}

impl MethodSchema {
    /// Builds a method; used by the service macro.
    pub const fn new(
        name: &'static str,
        rust_name: &'static str,
        path: &'static str,
        request: fn() -> &'static MessageSchema,
        response: fn() -> &'static MessageSchema,
        kind: MethodKind,
        idempotent: bool,
    ) -> Self {
        Self {
            name,
            rust_name,
            path,
            request,
            response,
            kind,
            idempotent,
        }
    }
}

/// How a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MethodKind {
    /// `async fn`: runs on the async runtime.
    Read,
    /// `fn`: runs on the server's bounded blocking pool.
    Write,
}
