//! `driftwatch template render` prints what a receiver would be sent: presets, template
//! files (with file:line errors) and configured receivers, for the sample or a payload file.

use std::process::Command;

fn render(args: &[&str], dir: &std::path::Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["template", "render"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn previews_presets_templates_and_receivers() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = render(&["--format", "alertmanager"], dir.path());
    assert!(ok, "{err}");
    let body: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(body["version"], "4");
    assert_eq!(
        body["alerts"].as_array().unwrap().len(),
        3,
        "the built-in sample"
    );

    std::fs::write(
        dir.path().join("mail.toml"),
        "[receivers.mail]\nkind = \"email\"\nhost = \"smtp.example.com\"\n\
         from = \"dw@example.com\"\nto = [\"ops@example.com\"]\nsubject = \"{{ alerts|length }} for {{ receiver }}\"\n",
    )
    .unwrap();
    let payload = serde_json::json!({
        "version": "driftwatch.alert.v1", "type": "alert.firing", "id": "msg_1",
        "receiver": "mail", "created_at": "2025-01-06T10:00:00.000Z",
        "alerts": [{
            "fingerprint": "f", "rule": "cost_high", "state": "firing", "severity": "info",
            "labels": {"model": "gpt-4o"}, "annotations": {"summary": "cost 3.2 USD"},
            "value": 3.2, "threshold": 1.0, "score": 1.0, "starts_at": null, "ends_at": null
        }]
    });
    std::fs::write(dir.path().join("alerts.json"), payload.to_string()).unwrap();
    let (ok, out, err) = render(
        &[
            "--receiver",
            "mail",
            "-c",
            "mail.toml",
            "--alerts",
            "alerts.json",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("Subject: 1 for mail\n"), "{out}");
    assert!(
        out.contains("--- text/plain ---") && out.contains("cost 3.2 USD"),
        "{out}"
    );
    assert!(
        out.contains("--- text/html ---") && out.contains("<b>cost_high</b>"),
        "{out}"
    );

    std::fs::write(dir.path().join("bad.j2"), "ok\n{{ alerts[0].rule }\n").unwrap();
    let (ok, _, err) = render(&["--template", "bad.j2"], dir.path());
    assert!(!ok);
    assert!(err.starts_with("error: bad.j2:2:"), "{err}");
    let (ok, _, err) = render(&["--receiver", "nope", "-c", "mail.toml"], dir.path());
    assert!(!ok);
    assert!(
        err.contains("no receiver \"nope\"") && err.contains("configured: mail"),
        "{err}"
    );
}
