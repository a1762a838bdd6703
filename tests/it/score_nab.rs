//! `driftwatch score` writes files NAB's scorer accepts. Uses ../shared/nab beside the
//! checkout when it is there (skips with a message when it is not); a small CSV of its
//! own always runs.

use std::path::PathBuf;
use std::process::Command;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

#[test]
fn score_writes_one_row_per_input_row_and_flags_a_spike() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("series.csv");
    let mut text = String::from("timestamp,value\n");
    for i in 0..600 {
        let v = if i == 500 {
            90.0
        } else {
            10.0 + (i % 7) as f64 * 0.3
        };
        text.push_str(&format!("2014-04-01 {:02}:{:02}:00,{v}\n", i / 60, i % 60));
    }
    std::fs::write(&input, text).unwrap();
    let output = dir.path().join("out.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["score", "--alerts", "-o"])
        .arg(&output)
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&output).unwrap();
    let rows: Vec<&str> = written.lines().collect();
    assert_eq!(rows[0], "timestamp,value,anomaly_score");
    assert_eq!(rows.len(), 601);
    let flagged: Vec<usize> = rows[1..]
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ends_with(",1.000000"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(flagged, vec![500], "one alert, at the spike");
}

#[test]
fn nab_scorer_accepts_the_output() {
    let nab = shared().join("nab");
    if !nab.join("data").exists() {
        eprintln!(
            "skipped: {} is not here (it sits beside the checkout in CI)",
            nab.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["score", "--alerts", "-o"])
        .arg(dir.path())
        .arg(nab.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scored = Command::new("python3")
        .arg(shared().join("tools/nab_score.py"))
        .arg("--nab-root")
        .arg(&nab)
        .arg("--results-dir")
        .arg(dir.path())
        .args(["--detector", "driftwatch", "--threshold", "0.99"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&scored.stdout);
    assert!(
        scored.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&scored.stderr)
    );
    let standard: f64 = text
        .lines()
        .find(|l| l.starts_with("standard"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no standard score in:\n{text}"));
    // The figure in BENCHMARKS.md; this guards against a detector change that breaks it.
    assert!(standard > 30.0, "NAB standard score fell to {standard}");
}
