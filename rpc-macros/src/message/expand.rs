//! Step 4: write the impls: `prost::Message` (wire encoding), `arpc::proto::ProtoElem` (one
//! value of a field) and `arpc::Message` (name and schema), all through absolute `::arpc`
//! paths. Calls that involve a field's type are spanned on that type, so an unsupported type
//! is reported where it is written.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{DeriveInput, Type};

use super::model::{EnumValue, FieldModel, Kind, Member, Model, Shape};

pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    match &model.kind {
        Kind::Struct(fields) => expand_struct(model, fields),
        Kind::Enum(values) => expand_enum(model, values),
        Kind::Oneof(members) => expand_oneof(model, members),
    }
}

/// What the derive emits when it reported errors: impls whose bodies never run (compilation
/// fails anyway), so uses of the type elsewhere do not add a cascade of follow-on errors.
/// Generic types get nothing: an impl would only add errors about the type parameters.
pub(crate) fn fallback(input: &DeriveInput) -> TokenStream {
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let ident = &input.ident;
    quote! {
        const _: () = {
            impl ::arpc::__private::prost::Message for #ident {
                fn encode_raw(&self, _: &mut impl ::arpc::__private::bytes::BufMut) {
                    ::core::panic!("arpc: this type's derive reported errors")
                }
                fn merge_field(
                    &mut self,
                    _: u32,
                    _: ::arpc::proto::WireType,
                    _: &mut impl ::arpc::__private::bytes::Buf,
                    _: ::arpc::proto::DecodeContext,
                ) -> ::core::result::Result<(), ::arpc::proto::DecodeError> {
                    ::core::panic!("arpc: this type's derive reported errors")
                }
                fn encoded_len(&self) -> usize {
                    ::core::panic!("arpc: this type's derive reported errors")
                }
                fn clear(&mut self) {}
            }
        };
    }
}

fn name_of(ident: &syn::Ident) -> String {
    ident.unraw().to_string()
}

/// `ProtoElem` for a message type (struct or oneof): length-delimited, encoded by its
/// `prost::Message` impl.
fn message_elem(ident: &syn::Ident, empty: &TokenStream) -> TokenStream {
    quote! {
        impl ::arpc::proto::ProtoElem for #ident {
            const WIRE_TYPE: ::arpc::proto::WireType = ::arpc::proto::WireType::LengthDelimited;
            const TYPE: ::arpc::schema::ElemType =
                ::arpc::schema::ElemType::Message(<#ident as ::arpc::Message>::schema);

            fn empty() -> Self {
                #empty
            }
            #[inline]
            fn is_default(&self) -> bool {
                // Nested messages have explicit presence: always written.
                false
            }
            #[inline]
            fn encode_value(&self, buf: &mut impl ::arpc::__private::bytes::BufMut) {
                ::arpc::proto::field::message::encode_value(self, buf)
            }
            #[inline]
            fn value_len(&self) -> usize {
                ::arpc::proto::field::message::value_len(self)
            }
            #[inline]
            fn merge_value(
                &mut self,
                wire_type: ::arpc::proto::WireType,
                buf: &mut impl ::arpc::__private::bytes::Buf,
                ctx: ::arpc::proto::DecodeContext,
            ) -> ::core::result::Result<(), ::arpc::proto::DecodeError> {
                ::arpc::proto::field::message::merge_value(self, wire_type, buf, ctx)
            }
        }
    }
}

fn message_impl(ident: &syn::Ident, kind: &TokenStream) -> TokenStream {
    let name = name_of(ident);
    quote! {
        impl ::arpc::Message for #ident {
            const NAME: &'static str = #name;

            fn schema() -> &'static ::arpc::schema::MessageSchema {
                static SCHEMA: ::arpc::schema::MessageSchema =
                    ::arpc::schema::MessageSchema::new(#name, ::core::module_path!(), #kind);
                &SCHEMA
            }
        }
    }
}

fn elem_type(ty: &Type) -> TokenStream {
    quote_spanned! {ty.span()=> <#ty as ::arpc::proto::ProtoElem>::TYPE }
}

fn field_type(shape: &Shape<'_>) -> TokenStream {
    match shape {
        Shape::Singular(t) => {
            let e = elem_type(t);
            quote!(::arpc::schema::FieldType::Singular(#e))
        }
        Shape::Optional(t) => {
            let e = elem_type(t);
            quote!(::arpc::schema::FieldType::Optional(#e))
        }
        Shape::Repeated(t) => {
            let e = elem_type(t);
            quote!(::arpc::schema::FieldType::Repeated(#e))
        }
        Shape::Map(k, v) => {
            let (k, v) = (elem_type(k), elem_type(v));
            quote!(::arpc::schema::FieldType::Map(::arpc::proto::map_key_type(#k), #v))
        }
    }
}

fn shape_module(shape: &Shape<'_>) -> TokenStream {
    match shape {
        Shape::Singular(_) => quote!(singular),
        Shape::Optional(_) => quote!(optional),
        Shape::Repeated(_) => quote!(repeated),
        Shape::Map(..) => quote!(map),
    }
}

fn expand_struct(model: &Model<'_>, fields: &[FieldModel<'_>]) -> TokenStream {
    let ident = model.ident;
    let name = name_of(ident);
    let mut encode = Vec::new();
    let mut len = Vec::new();
    let mut merge = Vec::new();
    let mut empty = Vec::new();
    let mut schema = Vec::new();
    for f in fields {
        let field = f.ident;
        let field_name = name_of(field);
        let tag = f.number.value;
        let module = shape_module(&f.shape);
        let span = f.ty.span();
        encode.push(quote_spanned! {span=>
            ::arpc::proto::field::#module::encode(#tag, &self.#field, buf);
        });
        len.push(quote_spanned! {span=>
            + ::arpc::proto::field::#module::encoded_len(#tag, &self.#field)
        });
        merge.push(quote_spanned! {span=>
            #tag => ::arpc::proto::field::#module::merge(wire_type, &mut self.#field, buf, ctx)
                .map_err(|mut e| { e.push(#name, #field_name); e }),
        });
        let ty = f.ty;
        let value = match f.shape {
            Shape::Singular(_) => quote_spanned!(span=> <#ty as ::arpc::proto::ProtoElem>::empty()),
            Shape::Optional(_) => quote!(::core::option::Option::None),
            Shape::Repeated(_) => quote!(::std::vec::Vec::new()),
            Shape::Map(..) => quote!(::core::default::Default::default()),
        };
        empty.push(quote!(#field: #value,));
        let ft = field_type(&f.shape);
        schema.push(quote!(::arpc::schema::FieldSchema::new(#field_name, #tag, #ft),));
    }
    let elem = message_elem(ident, &quote!(Self { #(#empty)* }));
    let message = message_impl(
        ident,
        &quote!(::arpc::schema::MessageKind::Struct(&[#(#schema)*])),
    );
    message_impls(
        ident,
        &quote!(#(#encode)*),
        &merge,
        &quote!(0 #(#len)*),
        &elem,
        &message,
    )
}

/// `prost::Message` around the per-field code, plus the `ProtoElem` and `Message` impls, in
/// one anonymous const.
fn message_impls(
    ident: &syn::Ident,
    encode: &TokenStream,
    merge_arms: &[TokenStream],
    len: &TokenStream,
    elem: &TokenStream,
    message: &TokenStream,
) -> TokenStream {
    quote! {
        const _: () = {
            impl ::arpc::__private::prost::Message for #ident {
                fn encode_raw(&self, buf: &mut impl ::arpc::__private::bytes::BufMut) {
                    #encode
                }
                fn merge_field(
                    &mut self,
                    tag: u32,
                    wire_type: ::arpc::proto::WireType,
                    buf: &mut impl ::arpc::__private::bytes::Buf,
                    ctx: ::arpc::proto::DecodeContext,
                ) -> ::core::result::Result<(), ::arpc::proto::DecodeError> {
                    match tag {
                        #(#merge_arms)*
                        _ => ::arpc::proto::field::skip(wire_type, tag, buf, ctx),
                    }
                }
                fn encoded_len(&self) -> usize {
                    #len
                }
                fn clear(&mut self) {
                    *self = <Self as ::arpc::proto::ProtoElem>::empty();
                }
            }
            #elem
            #message
        };
    }
}

fn expand_enum(model: &Model<'_>, values: &[EnumValue<'_>]) -> TokenStream {
    let ident = model.ident;
    let name = name_of(ident);
    let zero = values
        .iter()
        .find(|v| v.number == 0)
        .map(|v| v.ident)
        .expect("validated: an enum has a zero value");
    let mut to_number = Vec::new();
    let mut from_number = Vec::new();
    let mut schema = Vec::new();
    for v in values {
        let variant = v.ident;
        let n = i32::try_from(v.number).expect("validated: enum values fit i32");
        let variant_name = name_of(variant);
        to_number.push(quote!(Self::#variant => #n,));
        from_number.push(quote!(#n => Self::#variant,));
        schema.push(quote!(::arpc::schema::EnumValue::new(#variant_name, #n),));
    }
    let unknown = format!("unknown value {{}} for enum {name}");
    quote! {
        const _: () = {
            impl #ident {
                fn __arpc_number(&self) -> i32 {
                    match self { #(#to_number)* }
                }
            }
            fn schema() -> &'static ::arpc::schema::EnumSchema {
                static SCHEMA: ::arpc::schema::EnumSchema = ::arpc::schema::EnumSchema::new(
                    #name,
                    ::core::module_path!(),
                    &[#(#schema)*],
                );
                &SCHEMA
            }
            impl ::arpc::proto::ProtoElem for #ident {
                const WIRE_TYPE: ::arpc::proto::WireType = ::arpc::proto::WireType::Varint;
                const TYPE: ::arpc::schema::ElemType = ::arpc::schema::ElemType::Enum(schema);
                const PACKED: bool = true;

                fn empty() -> Self {
                    Self::#zero
                }
                #[inline]
                fn is_default(&self) -> bool {
                    ::core::matches!(self, Self::#zero)
                }
                #[inline]
                fn encode_value(&self, buf: &mut impl ::arpc::__private::bytes::BufMut) {
                    ::arpc::proto::ProtoElem::encode_value(&self.__arpc_number(), buf)
                }
                #[inline]
                fn value_len(&self) -> usize {
                    ::arpc::proto::ProtoElem::value_len(&self.__arpc_number())
                }
                fn merge_value(
                    &mut self,
                    wire_type: ::arpc::proto::WireType,
                    buf: &mut impl ::arpc::__private::bytes::Buf,
                    ctx: ::arpc::proto::DecodeContext,
                ) -> ::core::result::Result<(), ::arpc::proto::DecodeError> {
                    let mut n: i32 = 0;
                    ::arpc::proto::ProtoElem::merge_value(&mut n, wire_type, buf, ctx)?;
                    *self = match n {
                        #(#from_number)*
                        other => {
                            return ::core::result::Result::Err(::arpc::proto::invalid(
                                ::std::format!(#unknown, other),
                            ))
                        }
                    };
                    ::core::result::Result::Ok(())
                }
            }
        };
    }
}

fn expand_oneof(model: &Model<'_>, members: &[Member<'_>]) -> TokenStream {
    let ident = model.ident;
    let name = name_of(ident);
    let mut encode = Vec::new();
    let mut len = Vec::new();
    let mut merge = Vec::new();
    let mut schema = Vec::new();
    for m in members {
        let variant = m.ident;
        let variant_name = name_of(variant);
        let tag = m.number.value;
        match m.ty {
            Some(ty) => {
                let span = ty.span();
                encode.push(quote_spanned! {span=>
                    Self::#variant(v) => ::arpc::proto::field::always::encode(#tag, v, buf),
                });
                len.push(quote_spanned! {span=>
                    Self::#variant(v) => ::arpc::proto::field::always::encoded_len(#tag, v),
                });
                merge.push(quote_spanned! {span=>
                    #tag => {
                        if let Self::#variant(v) = self {
                            ::arpc::proto::ProtoElem::merge_value(v, wire_type, buf, ctx)
                        } else {
                            let mut v = <#ty as ::arpc::proto::ProtoElem>::empty();
                            ::arpc::proto::ProtoElem::merge_value(&mut v, wire_type, buf, ctx)?;
                            *self = Self::#variant(v);
                            ::core::result::Result::Ok(())
                        }
                        .map_err(|mut e| { e.push(#name, #variant_name); e })
                    }
                });
                let e = elem_type(ty);
                schema.push(quote!(::arpc::schema::FieldSchema::new(
                    #variant_name, #tag, ::arpc::schema::FieldType::Singular(#e)
                ),));
            }
            None => {
                encode
                    .push(quote!(Self::#variant => ::arpc::proto::field::unit::encode(#tag, buf),));
                len.push(quote!(Self::#variant => ::arpc::proto::field::unit::encoded_len(#tag),));
                merge.push(quote! {
                    #tag => {
                        ::arpc::proto::field::unit::merge(wire_type, buf, ctx)
                            .map_err(|mut e| { e.push(#name, #variant_name); e })?;
                        *self = Self::#variant;
                        ::core::result::Result::Ok(())
                    }
                });
                schema.push(quote!(::arpc::schema::FieldSchema::new(
                    #variant_name, #tag,
                    ::arpc::schema::FieldType::Singular(::arpc::schema::ElemType::Empty)
                ),));
            }
        }
    }
    let first = &members[0];
    let first_ident = first.ident;
    let empty = match first.ty {
        Some(ty) => {
            quote_spanned!(ty.span()=> Self::#first_ident(<#ty as ::arpc::proto::ProtoElem>::empty()))
        }
        None => quote!(Self::#first_ident),
    };
    let elem = message_elem(ident, &empty);
    let message = message_impl(
        ident,
        &quote!(::arpc::schema::MessageKind::Oneof(&[#(#schema)*])),
    );
    message_impls(
        ident,
        &quote!(match self { #(#encode)* }),
        &merge,
        &quote!(match self { #(#len)* }),
        &elem,
        &message,
    )
}
