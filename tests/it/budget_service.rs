//! Budgets in the running service: their alerts go the normal way (store commit, group,
//! signed webhook), `GET /api/v1/budgets` shows the status, a restart keeps the alerts
//! and the learnt state without notifying again, an edit mid-period re-judges the spend
//! so far, and a removed budget's alerts resolve — with SQLite and PostgreSQL as both
//! source and store.

use std::sync::Arc;
use std::time::Duration;

use driftwatch::budget::{parse_budgets, Budget};
use driftwatch::clock::SystemClock;
use driftwatch::demo::receiver::Receiver;
use driftwatch::demo::workload::{LlmCall, Run, Step};
use driftwatch::model::AlertState;
use driftwatch::rule::RuleContext;
use driftwatch::store::Store;
use driftwatch::types::SourceFile;

use crate::helpers::{rules, service_config, Backend, TestDb, SECRET};

/// The monthly `llm.cost` budget of these tests (Europe/Berlin, every hour), with the
/// TOML lines `extra` (its amount at least).
pub(crate) fn budget(extra: &str) -> Arc<Budget> {
    let text = format!(
        "[[budget]]\nname = \"monthly\"\nmetric = \"llm.cost\"\nperiod = \"month\"\n\
         timezone = \"Europe/Berlin\"\nevery = \"1h\"\n{extra}\n"
    );
    let ctx = RuleContext {
        sources: vec!["cmbagent".to_owned()],
        receivers: vec!["hook".to_owned()],
        default_receivers: vec!["hook".to_owned()],
        ..Default::default()
    };
    parse_budgets(&[SourceFile::new("b.toml", text)], &ctx)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
}

/// One run whose single gpt-4o call cost `usd`, finishing two minutes ago.
fn costly_run(usd: f64) -> Run {
    costly_run_at(
        "costly",
        chrono::Utc::now() - chrono::Duration::minutes(2),
        usd,
    )
}

/// Run `id`, whose single gpt-4o call cost `usd`, finishing at `end`.
pub(crate) fn costly_run_at(id: &str, end: chrono::DateTime<chrono::Utc>, usd: f64) -> Run {
    let start = end - chrono::Duration::seconds(5);
    Run {
        id: id.to_owned(),
        session_id: format!("sess-{id}"),
        mode: "one_shot".to_owned(),
        agent: "engineer".to_owned(),
        model: "gpt-4o".to_owned(),
        status: "completed".to_owned(),
        started_at: start,
        completed_at: Some(end),
        steps: vec![Step {
            status: "completed".to_owned(),
            started_at: start,
            completed_at: Some(end),
            calls: vec![LlmCall {
                agent: "engineer".to_owned(),
                model: "gpt-4o".to_owned(),
                seconds: 5.0,
                prompt_tokens: 1000,
                completion_tokens: 1000,
                cost_usd: usd,
            }],
        }],
    }
}

async fn budget_alerts(store: &Store) -> Vec<driftwatch::engine::Alert> {
    store
        .load_alerts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.rule == "budget:monthly")
        .collect()
}

fn firing(alerts: &[driftwatch::engine::Alert], kind: &str) -> bool {
    alerts
        .iter()
        .any(|a| a.labels.get("budget_alert") == Some(kind) && a.state == AlertState::Firing)
}

async fn budget_alerts_take_the_alert_path_and_survive_restart_and_edits(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.writer().insert(&costly_run(60.0)).await.unwrap();
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    let first = budget("amount = 100");
    let start = |budgets: Vec<Arc<Budget>>| {
        driftwatch::app::start_with_budgets(
            config.clone(),
            rules(""),
            budgets,
            Arc::new(SystemClock),
        )
    };
    let running = start(vec![Arc::clone(&first)]).await.unwrap();
    running.budgets.tick_due(chrono::Utc::now(), true).await;

    let got = receiver
        .wait_for(Duration::from_secs(10), |d| {
            d.iter()
                .flat_map(|d| d.payload.iter())
                .flat_map(|p| &p.alerts)
                .any(|a| a.labels.get("budget_alert") == Some("fast_burn"))
        })
        .await;
    let alert = got
        .iter()
        .flat_map(|d| d.payload.iter())
        .flat_map(|p| &p.alerts)
        .find(|a| a.labels.get("budget_alert") == Some("fast_burn"))
        .unwrap_or_else(|| panic!("{backend:?}: no fast-burn notification: {got:?}"));
    assert!(got.iter().all(|d| d.signature_ok));
    assert_eq!(alert.rule, "budget:monthly");
    assert_eq!(alert.labels.get("budget"), Some("monthly"));
    assert_eq!(alert.labels.get("severity"), Some("critical"));
    let summary = &alert.annotations["summary"];
    assert!(
        summary.contains("$60.00 in the last hour") && summary.contains("even pace flat"),
        "{summary}"
    );

    let api: serde_json::Value = reqwest::get(format!("http://{}/api/v1/budgets", running.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = &api["budgets"][0];
    assert_eq!(status["budget"], "monthly");
    assert!(
        (status["spent"].as_f64().unwrap() - 60.0).abs() < 1e-6,
        "{status}"
    );
    assert_eq!(status["pace_flat"], true);
    assert!(
        status["forecast"]["high"].as_f64().unwrap() >= status["forecast"]["low"].as_f64().unwrap()
    );
    let stored = budget_alerts(&running.store).await;
    assert!(
        firing(&stored, "fast_burn") && firing(&stored, "spent_50"),
        "{stored:?}"
    );
    assert!(!firing(&stored, "spent_100"));
    let states = running.store.budget_states().await.unwrap();
    assert_eq!(states.len(), 1, "{states:?}");
    assert_eq!(states[0].0, "monthly");
    running.stop(Duration::from_secs(5)).await;

    // A restart resumes the firing alerts without notifying them again.
    let delivered = receiver.deliveries().len();
    let running = start(vec![Arc::clone(&first)]).await.unwrap();
    running.budgets.tick_due(chrono::Utc::now(), true).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.deliveries().len(),
        delivered,
        "{backend:?}: a restart re-notified"
    );
    assert!(firing(&budget_alerts(&running.store).await, "fast_burn"));

    // Edited mid-period: a lower amount per model is judged on the spend so far.
    let edited = budget("amount = 50\ngroup_by = [\"model\"]");
    running.budgets.apply(&[edited]).await;
    running.budgets.tick_due(chrono::Utc::now(), true).await;
    let stored = budget_alerts(&running.store).await;
    let over = stored
        .iter()
        .find(|a| a.labels.get("budget_alert") == Some("spent_100"))
        .unwrap_or_else(|| panic!("{backend:?}: no spent_100 after the edit: {stored:?}"));
    assert_eq!(over.state, AlertState::Firing);
    assert_eq!(over.labels.get("model"), Some("gpt-4o"));
    assert!(
        over.summary
            .contains("$60.00 of its $50.00 month budget (120 %)"),
        "{}",
        over.summary
    );
    // The platform-wide alerts of the old label set resolved.
    assert!(
        stored
            .iter()
            .filter(|a| a.labels.get("model").is_none())
            .all(|a| a.state != AlertState::Firing),
        "{stored:?}"
    );

    // Removed: its alerts resolve and are forgotten, its state deleted.
    running.budgets.apply(&[]).await;
    assert!(budget_alerts(&running.store).await.is_empty());
    assert!(running.store.budget_states().await.unwrap().is_empty());
    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_alerts_on_sqlite() {
    budget_alerts_take_the_alert_path_and_survive_restart_and_edits(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_alerts_on_postgres() {
    budget_alerts_take_the_alert_path_and_survive_restart_and_edits(Backend::Postgres).await;
}

/// A reload reads the budgets from the rules directory with the rules: an edited amount
/// is running after it, and a broken budget keeps the previous budgets running and names
/// its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_budgets_and_a_broken_budget_keeps_the_old_ones() {
    let db = TestDb::new(Backend::Sqlite).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("budgets.toml");
    let text = |amount: &str| {
        format!("[[budget]]\nname = \"monthly\"\nmetric = \"llm.cost\"\namount = {amount}\nperiod = \"month\"\n")
    };
    std::fs::write(&file, text("100")).unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &receiver);
    config.rules_dir = dir.path().to_owned();
    let running = driftwatch::app::start(config, rules(""), Arc::new(SystemClock))
        .await
        .unwrap();
    let amounts = |b: Vec<Arc<Budget>>| b.iter().map(|b| b.amount).collect::<Vec<_>>();
    assert_eq!(amounts(running.budgets.budgets().await), vec![100.0]);

    std::fs::write(&file, text("250")).unwrap();
    let status = running.reloader.reload("test").await;
    assert!(status.success, "{:?}", status.errors);
    assert_eq!(amounts(running.budgets.budgets().await), vec![250.0]);

    std::fs::write(&file, text("-1")).unwrap();
    let status = running.reloader.reload("test").await;
    assert!(!status.success);
    let error = serde_json::to_string(&status.errors).unwrap();
    assert!(
        error.contains("budgets.toml") && error.contains("`amount` must be a number above 0"),
        "{error}"
    );
    assert_eq!(
        amounts(running.budgets.budgets().await),
        vec![250.0],
        "the old budget keeps running"
    );
    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

/// With leases on, a budget is judged by the one replica holding its lease, like a rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leases_a_budget_is_judged_by_one_replica_and_notified_once() {
    use driftwatch::app::budget::BudgetResult;
    let db = TestDb::new(Backend::Postgres).await;
    db.writer().insert(&costly_run(60.0)).await.unwrap();
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let replica = |id: &str| {
        let mut config = service_config(&db.url, &db.store_url(), &receiver);
        config.leases = Some(driftwatch::store::LeaseSettings {
            replica_id: id.to_owned(),
            ttl: Duration::from_secs(3),
        });
        driftwatch::app::start_with_budgets(
            config,
            rules(""),
            vec![budget("amount = 100")],
            Arc::new(SystemClock),
        )
    };
    let a = replica("a").await.unwrap();
    let b = replica("b").await.unwrap();
    let now = chrono::Utc::now();
    let results = [
        a.budgets.tick_due(now, true).await,
        b.budgets.tick_due(now, true).await,
    ];
    let judged: Vec<&BudgetResult> = results.iter().flat_map(|r| r.values()).collect();
    assert_eq!(judged.len(), 2, "{results:?}");
    assert_eq!(
        judged
            .iter()
            .filter(|r| matches!(r, BudgetResult::Ok(_)))
            .count(),
        1,
        "one replica judges it, the other is not its holder: {results:?}"
    );
    assert!(judged.contains(&&BudgetResult::NotHeld), "{results:?}");
    receiver
        .wait_for(Duration::from_secs(10), |d| !d.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fast_burns = receiver
        .deliveries()
        .iter()
        .flat_map(|d| d.payload.iter())
        .flat_map(|p| &p.alerts)
        .filter(|a| a.labels.get("budget_alert") == Some("fast_burn"))
        .count();
    assert_eq!(fast_burns, 1);
    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

/// A budget whose source cannot be reached raises that source's `source_down` alert, as
/// a rule reading it would, and holds its own alerts (none are raised from no data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_budget_source_raises_source_down() {
    // Nothing listens on port 1 of loopback: the connection is refused.
    let source_url = "postgres://postgres@127.0.0.1:1/none";
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}/store.db", store_dir.path().display());
    let running = driftwatch::app::start_with_budgets(
        service_config(source_url, &store_url, &receiver),
        rules(""),
        vec![budget("amount = 100")],
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    running.budgets.tick_due(chrono::Utc::now(), true).await;
    let stored = running.store.load_alerts().await.unwrap();
    let down = stored
        .iter()
        .find(|a| a.rule == "source_down")
        .unwrap_or_else(|| panic!("no source_down: {stored:?}"));
    assert_eq!(down.state, AlertState::Firing);
    assert_eq!(down.labels.get("source"), Some("cmbagent"));
    assert!(down.summary.contains("unreachable"), "{}", down.summary);
    assert!(budget_alerts(&running.store).await.is_empty(), "{stored:?}");
    running.stop(Duration::from_secs(5)).await;
}
