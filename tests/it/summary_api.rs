//! `GET /api/v1/summary` over real workflow rows, on SQLite and PostgreSQL: a session's
//! and an agent's runs, error rate, durations and costs over the last N hours.

use std::time::Duration;

use driftwatch::demo::receiver::Receiver;
use driftwatch::demo::workload::LlmCall;
use driftwatch::rule::RuleSet;

use crate::helpers::{finished_run, run_ending_at, service_config, start, Backend, TestDb, SECRET};

fn call(cost: f64) -> LlmCall {
    LlmCall {
        agent: "engineer".to_owned(),
        model: "gpt-4o".to_owned(),
        seconds: 1.0,
        prompt_tokens: 100,
        completion_tokens: 50,
        cost_usd: cost,
    }
}

async fn summary_of_session_and_agent(backend: Backend) {
    let db = TestDb::new(backend).await;
    let writer = db.writer();
    let mut a = finished_run("a", "one_shot", 10.0, "completed");
    a.session_id = "s1".to_owned();
    a.steps[0].calls = vec![call(0.25), call(0.5)];
    let mut b = finished_run("b", "one_shot", 30.0, "failed");
    b.session_id = "s1".to_owned();
    b.steps[0].calls = vec![call(0.25)];
    let mut c = finished_run("c", "one_shot", 20.0, "completed");
    c.session_id = "s2".to_owned();
    c.agent = "researcher".to_owned();
    // Two days old: outside a 24-hour summary.
    let mut old = run_ending_at(
        "old",
        "one_shot",
        500.0,
        "failed",
        chrono::Utc::now() - chrono::Duration::hours(48),
    );
    old.session_id = "s1".to_owned();
    for run in [&a, &b, &c, &old] {
        writer.insert(run).await.unwrap();
    }

    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let running = start(
        service_config(&db.url, &db.store_url(), &receiver),
        RuleSet::default(),
    )
    .await;
    let base = format!("http://{}/api/v1/summary", running.addr);
    let client = reqwest::Client::new();
    let get = |q: &str| {
        let url = format!("{base}?{q}");
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };

    let (status, body) = get("session_id=s1&hours=24").await;
    assert_eq!(status, 200, "{body}");
    let s = &body["summary"];
    assert_eq!(s["total_runs"], 2, "{body}");
    assert_eq!(s["completed_runs"], 1);
    assert_eq!(s["failed_runs"], 1);
    assert!((s["error_rate"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert!(
        (s["avg_duration_seconds"].as_f64().unwrap() - 20.0).abs() < 0.01,
        "{body}"
    );
    assert!((s["max_duration_seconds"].as_f64().unwrap() - 30.0).abs() < 0.01);
    assert!(
        (s["total_cost_usd"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{body}"
    );
    assert!((s["avg_cost_usd"].as_f64().unwrap() - 0.5).abs() < 1e-9);

    let (_, body) = get("session_id=s1&hours=72").await;
    assert_eq!(
        body["summary"]["total_runs"], 3,
        "a longer period reaches the old run"
    );

    let (_, body) = get("agent=researcher").await;
    assert_eq!(body["summary"]["total_runs"], 1, "{body}");
    assert_eq!(body["summary"]["error_rate"], 0.0);
    assert!(body["summary"]["avg_cost_usd"].as_f64().unwrap().abs() < 1e-9);

    let (_, body) = get("agent=nobody").await;
    assert_eq!(body["summary"]["total_runs"], 0);
    assert!(body["summary"]["avg_duration_seconds"].is_null());

    let (status, body) = get("hours=5").await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("session_id or agent"));
    let (status, body) = get("agent=x&hours=-1").await;
    assert_eq!(status, 400, "{body}");
    running.stop(Duration::from_secs(5)).await;
    db.drop_db().await;
}

#[tokio::test]
async fn summary_sqlite() {
    summary_of_session_and_agent(Backend::Sqlite).await;
}

#[tokio::test]
async fn summary_postgres() {
    summary_of_session_and_agent(Backend::Postgres).await;
}
