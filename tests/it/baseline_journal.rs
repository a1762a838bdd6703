//! The baseline journal through a real store, SQLite and PostgreSQL: a rule's evaluations
//! committed as the service commits them (whole baselines every half hour, one packed
//! record of deltas a tick), then read back as a restart reads them: every series resumes
//! from its last write, and the journal holds no more than the last 31 minutes.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use driftwatch::engine::evaluate::RuleRuntime;
use driftwatch::engine::journal;
use driftwatch::model::{Labels, Sample};
use driftwatch::sources::Observation;
use driftwatch::store::{CommitBatch, JournalTick, Store};
use sqlx::Row;

use crate::helpers::{rules, Backend, TestDb};

const RULE: &str = r#"
[[rule]]
name = "latency_z"
metric = "llm.call.duration"
group_by = ["model"]
aggregate = "last"
window = "10s"
every = "10s"
severity = "warning"
detector = { kind = "zscore", window = "1h" }
"#;

fn runtime() -> RuleRuntime {
    RuleRuntime::new(Arc::clone(&rules(RULE).rules[0]))
}

/// One ten-second tick of 40 models, each with one call.
fn tick(rt: &mut RuleRuntime, at: DateTime<Utc>, t: i64) -> CommitBatch {
    let rows = (0..40)
        .map(|m| Observation {
            labels: Arc::new(Labels::new().with("model", format!("m{m:02}"))),
            sample: Sample {
                ts: at - Duration::seconds(1),
                value: 2.0 + ((t * 7 + m) % 11) as f64 / 10.0,
            },
        })
        .collect();
    rt.ingest(rows, at - Duration::seconds(10), at, false);
    let outcome = rt.evaluate(at);
    CommitBatch {
        at_ms: at.timestamp_millis(),
        baselines: (outcome.baselines.into_iter())
            .map(|b| ("latency_z".to_owned(), b.fingerprint, b.state))
            .collect(),
        journal: (!outcome.journal.is_empty()).then(|| JournalTick {
            rule: "latency_z".to_owned(),
            deltas: outcome.journal,
            prune_before_ms: journal::prune_before(at).timestamp_millis(),
        }),
        ..Default::default()
    }
}

/// Each written series' baseline when it was last written, whole or as a delta.
fn written(rt: &RuleRuntime, batch: &CommitBatch, into: &mut HashMap<String, serde_json::Value>) {
    let deltas = batch
        .journal
        .as_ref()
        .map(|j| journal::entries(&j.deltas).unwrap());
    let fps = (batch.baselines.iter().map(|(_, fp, _)| fp.to_string()))
        .chain(deltas.into_iter().flatten().map(|(fp, _)| fp.to_owned()));
    for fp in fps {
        let group = rt.groups.iter().find(|(f, _)| f.as_str() == fp).unwrap().1;
        into.insert(fp, group.detector.snapshot());
    }
}

async fn journal_resumes_every_series(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::connect(&db.store_url()).await.unwrap();
    let mut live = runtime();
    let mut last_written = HashMap::new();
    let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let ticks = 6 * 45;
    for t in 0..ticks {
        let at = start + Duration::seconds(10 * t);
        let batch = tick(&mut live, at, t);
        written(&live, &batch, &mut last_written);
        store.commit(&batch).await.unwrap();
    }
    assert_eq!(last_written.len(), 40);

    let pool = sqlx::AnyPool::connect(&db.store_url()).await.unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n, MIN(at_ms) AS oldest FROM baseline_journal")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (records, oldest): (i64, i64) = (row.get("n"), row.get("oldest"));
    let end = start + Duration::seconds(10 * (ticks - 1));
    assert!(
        records <= 31 * 6 + 1 && oldest >= (end - Duration::minutes(31)).timestamp_millis(),
        "the journal is pruned to the last 31 minutes: {records} records"
    );

    // A restart: the whole states, then the journal written since.
    let mut restored = runtime();
    let baselines = store.load_baselines().await.unwrap();
    let journals = store.load_journals().await.unwrap();
    restored.restore(vec![], baselines["latency_z"].clone());
    restored.apply_journal(journals["latency_z"].clone());
    // The series brought up to date from the journal are written whole at once.
    let first = restored.evaluate(end + Duration::seconds(10));
    assert!(first.baselines.len() > 20, "{}", first.baselines.len());
    for b in &first.baselines {
        let back: serde_json::Value = b.state.parse().unwrap();
        let live = &last_written[b.fingerprint.as_str()];
        assert_eq!(back["base"], live["base"], "{}", b.fingerprint);
        assert_eq!(back["streak"], live["streak"], "{}", b.fingerprint);
    }
    // A replica taking the rule over reads the same journal.
    let state = store.load_rule_state("latency_z").await.unwrap();
    assert_eq!(state.journal, journals["latency_z"]);
    store.close().await;
}

#[tokio::test]
async fn journal_resumes_every_series_on_sqlite() {
    journal_resumes_every_series(Backend::Sqlite).await;
}

#[tokio::test]
async fn journal_resumes_every_series_on_postgres() {
    journal_resumes_every_series(Backend::Postgres).await;
}
