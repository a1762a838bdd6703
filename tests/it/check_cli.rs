//! `driftwatch check` reports every error at once with file:line:col and exits 1.

use std::path::PathBuf;
use std::process::Command;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures")
}

#[test]
fn check_names_every_error_with_its_position() {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .arg("check")
        .arg("--config")
        .arg(fixtures().join("check.toml"))
        .arg(fixtures().join("bad_rules"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let expect = [
        (
            "bad.toml:5:1:",
            "rule \"typo\": unknown field `severty`",
            "did you mean `severity`?",
        ),
        (
            "bad.toml:13:15:",
            "rule \"wrong_type\": invalid type: string \"ten\"",
            "expected u32",
        ),
        (
            "bad.toml:21:21:",
            "rule \"unknown_kind\": unknown variant `treshold`",
            "expected one of `threshold`, `zscore`",
        ),
        (
            "bad.toml:27:8:",
            "rule \"bad_cron\": invalid cron expression \"61 * * * *\"",
            "Minutes",
        ),
    ];
    for (place, what, hint) in expect {
        let line = stderr
            .lines()
            .find(|l| l.contains(place))
            .unwrap_or_else(|| panic!("no error at {place} in:\n{stderr}"));
        assert!(line.contains(what) && line.contains(hint), "{line}");
    }
    assert!(stderr.contains("4 error(s)"), "{stderr}");
}

#[test]
fn check_accepts_the_shipped_rules_and_config() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .current_dir(&root)
        .args(["check", "--config", "driftwatch.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok:"));
}

#[test]
fn check_reports_a_toml_syntax_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "[[rule]]\nname = \"x\"\nwindow = \n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .arg("check")
        .arg("--config")
        .arg(fixtures().join("check.toml"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("broken.toml:3:"), "{stderr}");
}
