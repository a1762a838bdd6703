//! Replicas sharing rules on one real PostgreSQL store: a lease per rule, one evaluator
//! per rule, a stale holder's commit refused (fencing), and a stopped replica's rules
//! taken over by the other, which sends nothing already sent.

use std::time::Duration;

use driftwatch::demo::receiver::Receiver;
use driftwatch::engine::Alert;
use driftwatch::model::{Labels, Severity};
use driftwatch::store::{CommitBatch, Fence, LeaseSettings, Store, StoreError};

use crate::helpers::{finished_run, rules, service_config, start, Backend, TestDb, SECRET};

#[tokio::test]
async fn a_commit_under_a_lease_that_moved_is_refused() {
    let db = TestDb::new(Backend::Postgres).await;
    let store = Store::connect(&db.store_url()).await.unwrap();
    store.heartbeat("a", 0, &["r".to_owned()]).await.unwrap();
    let first = store.acquire_lease("r", "a", 0, 10_000).await.unwrap();
    assert_eq!(first, Some(1));
    assert_eq!(
        store.acquire_lease("r", "b", 5_000, 15_000).await.unwrap(),
        None,
        "held and not expired"
    );
    // a is paused past its lease; b takes the rule over with a new token.
    assert_eq!(
        store.acquire_lease("r", "b", 10_001, 20_000).await.unwrap(),
        Some(2)
    );
    assert!(!store.renew_lease("r", "a", 1, 30_000).await.unwrap());
    let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let batch = |owner: &str, token| CommitBatch {
        alerts: vec![Alert::new(
            "r",
            Labels::new(),
            &Labels::new(),
            Severity::Warning,
            t0,
        )],
        at_ms: 10_002,
        fence: Some(Fence {
            rule: "r".into(),
            owner: owner.into(),
            token,
        }),
        ..Default::default()
    };
    let stale = store.commit(&batch("a", 1)).await;
    assert!(matches!(stale, Err(StoreError::Fenced(_))), "{stale:?}");
    assert!(
        store.load_alerts().await.unwrap().is_empty(),
        "nothing of it written"
    );
    store.commit(&batch("b", 2)).await.unwrap();
    assert_eq!(store.load_alerts().await.unwrap().len(), 1);
    store.close().await;
    db.drop_db().await;
}

/// Four rules, each firing per mode on a slow run.
fn four_rules() -> String {
    (1..=4)
        .map(|i| {
            format!(
                r#"
[[rule]]
name = "slow_{i}"
metric = "workflow.duration"
group_by = ["mode"]
aggregate = "max"
window = "1h"
every = "250ms"
for = "0s"
severity = "warning"
summary = "slowest {{label.mode}} workflow took {{value}}"
detector = {{ kind = "threshold", above = {} }}
"#,
                500 + i * 10
            )
        })
        .collect()
}

/// Evaluations that ran (result ok) per rule, from one replica's metrics.
fn evaluated(running: &driftwatch::app::Running) -> Vec<u64> {
    (1..=4)
        .map(|i| {
            running
                .metrics
                .evaluations
                .with_label_values(&[&format!("slow_{i}"), "ok"])
                .get()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_split_the_rules_and_one_takes_over_when_the_other_stops() {
    let db = TestDb::new(Backend::Postgres).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let replica = |id: &str| {
        let mut config = service_config(&db.url, &db.store_url(), &receiver);
        config.leases = Some(LeaseSettings {
            replica_id: id.to_owned(),
            ttl: Duration::from_secs(3),
        });
        config
    };
    let a = start(replica("a"), rules(&four_rules())).await;
    let b = start(replica("b"), rules(&four_rules())).await;
    // A round (a third of the lease) later, a releases what is over its even share and b
    // takes it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let owners: Vec<Option<String>> = a
            .store
            .leases()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.owner)
            .collect();
        let of = |r: &str| owners.iter().filter(|o| o.as_deref() == Some(r)).count();
        if of("a") == 2 && of("b") == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{owners:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each rule is evaluated by one replica only.
    let (a0, b0) = (evaluated(&a), evaluated(&b));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (a1, b1) = (evaluated(&a), evaluated(&b));
    for i in 0..4 {
        let (da, db_) = (a1[i] - a0[i], b1[i] - b0[i]);
        assert!(
            (da == 0) != (db_ == 0),
            "rule slow_{}: a evaluated {da}, b {db_} times",
            i + 1
        );
    }
    // A slow run fires every rule once: one notification each, whoever evaluates it.
    db.writer()
        .insert(&finished_run("x", "batch", 900.0, "completed"))
        .await
        .unwrap();
    receiver
        .wait_for(Duration::from_secs(20), |d| d.len() >= 4)
        .await;
    // a stops (giving its leases up); b takes its rules over from the store and does not
    // notify again what a already sent.
    a.stop(Duration::from_secs(5)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while evaluated(&b).iter().zip(&b1).any(|(now, then)| now == then) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "b took over: {:?}",
            evaluated(&b)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Rules a owned but had not yet notified are b's to send now (a loaded machine can
    // be slow to); then a second more, in which nothing already sent may come again.
    receiver
        .wait_for(Duration::from_secs(20), |d| d.len() >= 4)
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let sent: Vec<String> = receiver
        .deliveries()
        .iter()
        .filter_map(|d| d.payload.as_ref())
        .flat_map(|p| p.alerts.iter().map(|x| format!("{} {}", x.rule, x.state)))
        .collect();
    assert_eq!(sent.len(), 4, "one firing notification per rule: {sent:?}");
    let metrics = b.metrics.render();
    assert!(
        metrics.contains(r#"driftwatch_lease_changes_total{change="acquired"}"#),
        "{metrics}"
    );
    b.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}
