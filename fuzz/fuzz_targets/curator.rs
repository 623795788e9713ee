//! Curator instance JSON read from ZooKeeper (`arpc_registry::curator::from_json`) under
//! libFuzzer: an error or an instance, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = arpc_registry::curator::from_json(data);
});
