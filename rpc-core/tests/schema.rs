//! The runtime schema the derive builds: names, numbers, cardinalities and types.

mod support;

use arpc::Message;
use arpc::schema::{ElemType, FieldType, MessageKind, ScalarType};
use support::*;

fn scalar(t: FieldType) -> Option<ScalarType> {
    match t.elem() {
        ElemType::Scalar(s) => Some(s),
        _ => None,
    }
}

#[test]
fn fields_are_numbered_in_declaration_order_from_one() {
    let schema = Scalars::schema();
    assert_eq!(schema.name, "Scalars");
    assert!(schema.rust_module.ends_with("support"));
    let names: Vec<_> = schema.fields().iter().map(|f| (f.name, f.number)).collect();
    assert_eq!(&names[..3], &[("flag", 1), ("i8v", 2), ("i16v", 3)]);
    assert_eq!(names.last(), Some(&("shared", 16)));
}

#[test]
fn integers_are_widened_and_types_mapped() {
    let s = Scalars::schema();
    let ty = |n: &str| scalar(s.fields().iter().find(|f| f.name == n).unwrap().ty);
    assert_eq!(ty("flag"), Some(ScalarType::Bool));
    assert_eq!(ty("i8v"), Some(ScalarType::Int32));
    assert_eq!(ty("isizev"), Some(ScalarType::Int64));
    assert_eq!(ty("u16v"), Some(ScalarType::Uint32));
    assert_eq!(ty("usizev"), Some(ScalarType::Uint64));
    assert_eq!(ty("f32v"), Some(ScalarType::Float));
    assert_eq!(ty("f64v"), Some(ScalarType::Double));
    assert_eq!(ty("text"), Some(ScalarType::String));
    assert_eq!(ty("blob"), Some(ScalarType::Bytes));
    assert_eq!(ty("shared"), Some(ScalarType::Bytes));
}

#[test]
fn explicit_tags_set_a_number_and_the_count_goes_on() {
    let s = Containers::schema();
    let tier = s.fields().iter().find(|f| f.name == "tier").unwrap();
    assert_eq!(tier.number, 40);
    let next = s.fields().iter().find(|f| f.name == "benefit").unwrap();
    assert_eq!(next.number, 41);
    assert_eq!(s.field_by_number(41).map(|f| f.name), Some("benefit"));
}

#[test]
fn cardinalities_and_nested_types() {
    let s = Containers::schema();
    let field = |n: &str| s.fields().iter().find(|f| f.name == n).unwrap().ty;
    assert!(matches!(
        field("maybe_i32"),
        FieldType::Optional(ElemType::Scalar(ScalarType::Int32))
    ));
    assert!(matches!(
        field("numbers"),
        FieldType::Repeated(ElemType::Scalar(ScalarType::Int64))
    ));
    assert!(matches!(
        field("blobs"),
        FieldType::Repeated(ElemType::Scalar(ScalarType::Bytes))
    ));
    assert!(matches!(
        field("by_name"),
        FieldType::Map(ScalarType::String, ElemType::Scalar(ScalarType::Int32))
    ));
    match field("by_id") {
        FieldType::Map(ScalarType::Uint64, ElemType::Message(m)) => assert_eq!(m().name, "Scalars"),
        other => panic!("{other:?}"),
    }
    match field("tier") {
        FieldType::Singular(ElemType::Enum(e)) => {
            let e = e();
            assert_eq!(e.name, "Tier");
            let values: Vec<_> = e.values.iter().map(|v| (v.name, v.number)).collect();
            assert_eq!(
                values,
                [("Unknown", 0), ("Silver", 1), ("Gold", 5), ("Negative", -3)]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn enums_with_data_are_oneofs() {
    let s = Benefit::schema();
    assert!(matches!(s.kind, MessageKind::Oneof(_)));
    let members: Vec<_> = s.fields().iter().map(|f| (f.name, f.number)).collect();
    assert_eq!(
        members,
        [
            ("None", 1),
            ("Discount", 2),
            ("Coupon", 3),
            ("Nested", 4),
            ("Level", 5)
        ]
    );
    assert!(matches!(
        s.fields()[0].ty,
        FieldType::Singular(ElemType::Empty)
    ));
    assert!(matches!(
        s.fields()[3].ty,
        FieldType::Singular(ElemType::Message(_))
    ));
}

#[test]
fn recursive_types_describe_themselves() {
    #[arpc::message]
    #[derive(Debug, Clone, PartialEq)]
    struct Tree {
        label: String,
        children: Vec<Tree>,
    }
    match Tree::schema().fields()[1].ty {
        FieldType::Repeated(ElemType::Message(m)) => assert!(std::ptr::eq(m(), Tree::schema())),
        other => panic!("{other:?}"),
    }
}
