//! A PromQL rule against a real Prometheus server scraping a real exporter (the official
//! Python client): the p95 of `llm_call_duration_seconds` jumps ×4 on one model, the alert
//! fires for that model only, and resolves when latencies recover.

use std::time::Duration;

use driftwatch::config::validated::SourceConfig;
use driftwatch::demo::receiver::Receiver;
use driftwatch::model::AlertState;
use driftwatch::rule::parse_rules;
use driftwatch::types::SourceFile;

use crate::external::{free_port, start_exporter, start_prometheus};
use crate::helpers::{service_config, start, Backend, TestDb, SECRET};

const RULE: &str = r#"
[[rule]]
name = "llm_p95_slow"
source = "prom"
promql = "histogram_quantile(0.95, sum by (le, model) (rate(llm_call_duration_seconds_bucket[5s])))"
group_by = ["model"]
aggregate = "max"
window = "10s"
every = "1s"
for = "2s"
severity = "warning"
summary = "{label.model} p95 {value} s"
detector = { kind = "threshold", above = 6 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_p95_rule_fires_on_a_latency_jump_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("factor");
    std::fs::write(&control, "1").unwrap();
    let exporter_port = free_port();
    let _exporter = start_exporter(exporter_port, &control).await;
    let prom_port = free_port();
    let _prometheus =
        start_prometheus(prom_port, &format!("127.0.0.1:{exporter_port}"), dir.path()).await;

    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &receiver);
    config.sources.insert(
        "prom".to_owned(),
        SourceConfig::Prometheus {
            url: format!("http://127.0.0.1:{prom_port}").parse().unwrap(),
            timeout: Duration::from_secs(2),
        },
    );
    let rules = parse_rules(
        &[SourceFile::new("prom.toml", RULE)],
        &config.rule_context(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let running = start(config, rules).await;

    // Normal latencies (p95 ≈ 2.4 s): nothing for a while.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(
        receiver.deliveries().is_empty(),
        "no alert at normal latency"
    );

    std::fs::write(&control, "4").unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(40), |d| !d.is_empty())
        .await;
    let payload = got[0].payload.as_ref().expect("driftwatch payload");
    assert_eq!(payload.kind, "alert.firing");
    assert_eq!(payload.alerts.len(), 1, "only the slow model: {payload:?}");
    let alert = &payload.alerts[0];
    assert_eq!(alert.labels.get("model"), Some("gpt-4o"));
    assert_eq!(alert.state, AlertState::Firing);
    assert!(alert.value.unwrap() > 6.0, "{:?}", alert.value);

    std::fs::write(&control, "1").unwrap();
    let got = receiver
        .wait_for(Duration::from_secs(40), |d| {
            d.iter().any(|x| {
                x.payload
                    .as_ref()
                    .is_some_and(|p| p.kind == "alert.resolved")
            })
        })
        .await;
    assert!(
        got.iter().any(|x| x
            .payload
            .as_ref()
            .is_some_and(|p| p.kind == "alert.resolved")),
        "the alert resolves when latencies recover: {got:?}"
    );
    running.stop(Duration::from_secs(5)).await;
}
