//! `driftwatch demo` from the repository shows an alert reaching its webhook within a minute.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_shows_alerts_within_a_minute() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "demo",
            "--duration",
            "70s",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let stdout = child.stdout.take().unwrap();
    let mut first_alert = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains("webhook <- FIRING") {
            first_alert = Some((started.elapsed(), line));
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let (after, line) = first_alert.expect("the demo printed no alert");
    assert!(
        after < Duration::from_secs(60),
        "first alert after {after:?}"
    );
    assert!(line.contains("signature ok"), "{line}");
}
