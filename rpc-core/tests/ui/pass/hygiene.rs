//! The derive's output names everything by absolute path: it compiles with no prelude and
//! with local items shadowing common names.
#![no_implicit_prelude]

#[allow(dead_code)]
mod shadows {
    pub struct Option;
    pub struct Vec;
    pub struct String;
    pub struct Result;
    pub trait Message {}
    pub mod prost {}
    pub mod bytes {}
}

#[allow(unused_imports)]
use shadows::*;

#[::arpc::message]
#[derive(Debug, Clone, PartialEq)]
struct Plain {
    name: ::std::string::String,
    tags: ::std::vec::Vec<::std::string::String>,
    maybe: ::core::option::Option<u32>,
    map: ::std::collections::BTreeMap<::std::string::String, i64>,
    mood: Mood,
    pick: Pick,
}

#[::arpc::message]
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mood {
    Calm,
    Busy,
}

#[::arpc::message]
#[derive(Debug, Clone, PartialEq)]
enum Pick {
    Nothing,
    Number(i32),
}

fn main() {
    let _ = <Plain as ::arpc::Message>::schema();
}
