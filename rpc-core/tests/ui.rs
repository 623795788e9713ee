//! Compile-time diagnostics of `#[arpc::message]` / `#[derive(arpc::Message)]`: one file per
//! diagnostic under `tests/ui/fail`, with the expected compiler output beside it, and
//! hygiene checks under `tests/ui/pass`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
