//! The `.proto` reader of the compatibility checker (`arpc_codegen::parse::parse`) under
//! libFuzzer: an error or a file, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = arpc_codegen::parse::parse(text);
    }
});
