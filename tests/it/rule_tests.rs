//! `driftwatch test` passes on the shipped rule tests and fails with a readable diff on a
//! test whose expectation is wrong.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_rule_tests_pass() {
    let tests: Vec<PathBuf> = std::fs::read_dir(root().join("rules/tests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(tests.len() >= 2, "{tests:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .arg("test")
        .args(&tests)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(", 0 failed"), "{stdout}");
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_diff() {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .arg("test")
        .arg(root().join("tests/it/fixtures/ruletests/wrong_test.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAIL"), "{stderr}");
    assert!(stderr.contains("rule \"workflow_slow\" at 6m"), "{stderr}");
    assert!(
        stderr.contains("  - firing {mode=deep_research}"),
        "the missing alert is marked: {stderr}"
    );
    assert!(
        stderr.contains("  + firing {mode=one_shot, rule=workflow_slow, severity=warning} summary=\"slowest one_shot workflow took 900 s (threshold 600 s)\""),
        "the unexpected alert is marked: {stderr}"
    );
}
