//! `arpc::fuzz::decode` under libFuzzer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arpc::fuzz::decode(data));
