//! `driftwatch schema` describes exactly what `check` accepts: the shipped files validate
//! against it, and a typo or an unknown detector kind does not.

use std::process::Command;

fn schema(kind: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(["schema", kind])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn toml_file(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::to_value(text.parse::<toml::Table>().unwrap()).unwrap()
}

#[test]
fn shipped_rules_and_config_validate_and_mistakes_do_not() {
    let rules = jsonschema::validator_for(&schema("rules")).unwrap();
    for file in [
        "rules/workflows.toml",
        "rules/steps.toml",
        "rules/llm.toml",
        "rules/detect.toml",
    ] {
        let doc = toml_file(file);
        let errors: Vec<String> = rules.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
    let config = jsonschema::validator_for(&schema("config")).unwrap();
    assert!(config.is_valid(&toml_file("driftwatch.toml")));
    let hardened = serde_json::json!({
        "receivers": { "ops": {
            "kind": "webhook", "url": "https://hooks.example.com/x",
            "secret": "${NEW}", "previous_secrets": ["${OLD}"],
            "disable_after": "24h", "allow_private": true
        }},
        "delivery": { "allow_private": ["127.0.0.1", "10.0.0.0/8", "hooks.internal"], "max_retry_after": "30m" }
    });
    assert!(
        config.is_valid(&hardened),
        "webhook hardening keys are described"
    );
    let kinds = serde_json::json!({ "receivers": {
        "slack": { "kind": "webhook", "url": "https://hooks.example.com/s", "format": "slack" },
        "own": { "kind": "webhook", "url": "https://hooks.example.com/o", "template": "body.j2" },
        "mail": {
            "kind": "email", "host": "smtp.example.com", "tls": "starttls", "ca_file": "ca.pem",
            "from": "dw@example.com", "to": ["ops@example.com"], "username": "${U}",
            "password": "${P}", "subject": "{{ status }}", "html_template": "mail.html.j2"
        },
        "am": { "kind": "alertmanager", "url": "http://am:9093", "firing_ttl": "1h" }
    }});
    assert!(
        config.is_valid(&kinds),
        "receiver kinds and formats are described"
    );
    let bad_format = serde_json::json!({ "receivers": { "s": {
        "kind": "webhook", "url": "https://x", "format": "slak"
    }}});
    assert!(
        !config.is_valid(&bad_format),
        "an unknown format is refused"
    );
    let typo = serde_json::json!({ "delivery": { "allow_privat": ["127.0.0.1"] } });
    assert!(
        !config.is_valid(&typo),
        "a misspelt delivery key is refused"
    );
    let not_a_flag = serde_json::json!({ "receivers": { "ops": {
        "kind": "webhook", "url": "https://x", "allow_private": "yes"
    }}});
    assert!(
        !config.is_valid(&not_a_flag),
        "allow_private on a receiver is a boolean"
    );

    let typo: serde_json::Value = serde_json::json!({ "rule": [{
        "name": "x", "metric": "workflow.duration", "window": "5m", "severty": "warning",
        "detector": { "kind": "threshold", "above": 1 }
    }]});
    assert!(!rules.is_valid(&typo), "an unknown key is refused");
    let kind: serde_json::Value = serde_json::json!({ "rule": [{
        "name": "x", "metric": "workflow.duration", "window": "5m", "severity": "warning",
        "detector": { "kind": "treshold", "above": 1 }
    }]});
    assert!(
        !rules.is_valid(&kind),
        "an unknown detector kind is refused"
    );
    let duration: serde_json::Value = serde_json::json!({ "rule": [{
        "name": "x", "metric": "workflow.duration", "window": "soon", "severity": "warning",
        "detector": { "kind": "threshold", "above": 1 }
    }]});
    assert!(
        !rules.is_valid(&duration),
        "a malformed duration is refused"
    );
}
