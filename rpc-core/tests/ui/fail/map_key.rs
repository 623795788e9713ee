use std::collections::BTreeMap;

#[arpc::message]
#[derive(Debug)]
struct Index {
    by_blob: BTreeMap<Vec<u8>, i32>,
}

fn main() {}
