//! The compatibility checker against a fixture set of old/new pairs
//! (`tests/fixtures/compat/<case>/new.proto` against the shared `base.proto`, or against the
//! case's own `old.proto` where it has one; the expected verdict is in `expect`:
//! `BREAKING <subject>`, or `OK` optionally followed by `POSTCARD <message>` or
//! `ARPC_READERS <Enum.VALUE>`), through the
//! library and through the `arpc-codegen check` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use arpc_codegen::compat::{self, Severity};
use arpc_codegen::parse::parse;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat");
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// The old side of a case: its own `old.proto`, else the shared base.
fn old_of(case: &Path) -> PathBuf {
    let own = case.join("old.proto");
    if own.exists() {
        own
    } else {
        case.parent().unwrap().join("base.proto")
    }
}

#[test]
fn every_fixture_gets_its_verdict() {
    let cases = cases();
    assert!(cases.len() >= 15, "fixtures missing: {cases:?}");
    for case in cases {
        let old = parse(&read(&old_of(&case))).unwrap();
        let new = parse(&read(&case.join("new.proto"))).unwrap();
        let expect = read(&case.join("expect"));
        let words: Vec<_> = expect.split_whitespace().collect();
        let findings = compat::check(&old, &new);
        let breaking: Vec<_> = findings
            .iter()
            .filter(|f| f.severity == Severity::Breaking)
            .collect();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match words.as_slice() {
            ["BREAKING", subject] => {
                assert!(
                    breaking.iter().any(|f| f.subject == *subject),
                    "{name}: expected a breaking change on {subject}, got {findings:#?}"
                );
            }
            ["OK", rest @ ..] => {
                assert!(
                    breaking.is_empty(),
                    "{name}: expected compatible, got {breaking:#?}"
                );
                let warned = |severity: Severity, subject: &str| {
                    findings
                        .iter()
                        .any(|f| f.severity == severity && f.subject == subject)
                };
                match rest {
                    [] => {}
                    ["POSTCARD", message] => assert!(
                        warned(Severity::PostcardOnly, message),
                        "{name}: expected a postcard warning on {message}, got {findings:#?}"
                    ),
                    ["ARPC_READERS", value] => assert!(
                        warned(Severity::ArpcReaders, value),
                        "{name}: expected an arpc-readers warning on {value}, got {findings:#?}"
                    ),
                    other => panic!("{name}: bad expect file {other:?}"),
                }
            }
            other => panic!("{name}: bad expect file {other:?}"),
        }
    }
}

#[test]
fn an_unchanged_schema_has_no_findings() {
    let hello =
        read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/proto/hello.v1.proto"));
    let f = parse(&hello).unwrap();
    assert!(compat::check(&f, &f).is_empty());
}

#[test]
fn the_command_exits_nonzero_on_breaking_changes_only() {
    let bin = env!("CARGO_BIN_EXE_arpc-codegen");
    for case in cases() {
        let out = Command::new(bin)
            .args(["check", "--old"])
            .arg(old_of(&case))
            .arg("--new")
            .arg(case.join("new.proto"))
            .output()
            .unwrap();
        let breaking = case
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("breaking_");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(if breaking { 1 } else { 0 }),
            "{}: {stdout}",
            case.display()
        );
        if breaking {
            assert!(stdout.contains("BREAKING: line"), "{stdout}");
        }
    }
    let out = Command::new(bin)
        .args([
            "check",
            "--old",
            "/nonexistent.proto",
            "--new",
            "/nonexistent.proto",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
