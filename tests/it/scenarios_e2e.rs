//! The detector scenarios through the real path: synthetic LLM calls in a CMBAgent SQLite
//! database (one a minute per model), baseline rules evaluated by the service's own
//! evaluator at driven instants — a minute of history per tick, so days take seconds — with
//! state and outbox committed to the store and the dispatcher signing and POSTing to a
//! webhook receiver. Each rule fires on its anomaly, where it happened, and never on the
//! calm series judged beside it; a daily wave raises nothing from the seasonal kind.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use driftwatch::app::evaluator::RuleTask;
use driftwatch::demo::receiver::{Delivery, Receiver};
use driftwatch::engine::evaluate::RuleRuntime;
use rand::{Rng, SeedableRng};

use crate::helpers::{rules, service_config, start, Backend, TestDb, SECRET};

/// One baseline rule over the calls of `agent`, per model, evaluated every `minutes`.
fn rule(name: &str, agent: &str, minutes: u32, detector: &str) -> String {
    format!(
        "[[rule]]\nname = \"{name}\"\nmetric = \"llm.call.duration\"\nfilter = {{ agent = \"{agent}\" }}\n\
         group_by = [\"model\"]\naggregate = \"avg\"\nwindow = \"{minutes}m\"\nevery = \"{minutes}m\"\n\
         severity = \"warning\"\nsummary = \"{{label.model}} {{value}} {{reason}}\"\ndetector = {detector}\n\n"
    )
}

fn rules_text() -> String {
    [
        rule(
            "spike_ewma",
            "spike",
            1,
            r#"{ kind = "ewma", warmup = 100 }"#,
        ),
        rule(
            "shift_changepoint",
            "shift",
            1,
            r#"{ kind = "changepoint", warmup = 100 }"#,
        ),
        rule(
            "drift_changepoint",
            "drift",
            1,
            r#"{ kind = "changepoint", warmup = 100 }"#,
        ),
        rule(
            "burst_zscore",
            "burst",
            1,
            r#"{ kind = "zscore", warmup = 100 }"#,
        ),
        rule(
            "daily_seasonal",
            "daily",
            10,
            r#"{ kind = "seasonal", season = "daily", min_seasons = 3, warmup = 100 }"#,
        ),
    ]
    .concat()
}

const MINUTES: usize = 800;
const AT: usize = 500;

fn noise(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n).map(|_| 10.0 + rng.gen_range(-1.0..1.0)).collect()
}

/// (agent, model, seconds a minute apart): each anomalous series beside a calm one.
fn series() -> Vec<(&'static str, &'static str, Vec<f64>, usize)> {
    let mut spike = noise(MINUTES, 1);
    spike[AT] = 30.0;
    let mut shift = noise(MINUTES, 2);
    shift[AT..].iter_mut().for_each(|x| *x += 8.0);
    let mut drift = noise(MINUTES, 3);
    drift[AT..]
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x += i as f64 * 0.02);
    let mut burst = noise(MINUTES, 4);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    burst[AT..AT + 60]
        .iter_mut()
        .for_each(|x| *x = 10.0 + rng.gen_range(-12.0..12.0));
    // Six days at one value every ten minutes of a strong daily wave.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let daily = (0..6 * 144)
        .map(|i| {
            let hour = (i % 144) as f64 / 6.0;
            100.0 + 80.0 * (hour / 24.0 * std::f64::consts::TAU).sin() + rng.gen_range(-3.0..3.0)
        })
        .collect();
    vec![
        ("spike", "anomalous", spike, 1),
        ("spike", "calm", noise(MINUTES, 11), 1),
        ("shift", "anomalous", shift, 1),
        ("shift", "calm", noise(MINUTES, 12), 1),
        ("drift", "anomalous", drift, 1),
        ("drift", "calm", noise(MINUTES, 13), 1),
        ("burst", "anomalous", burst, 1),
        ("burst", "calm", noise(MINUTES, 14), 1),
        ("daily", "wave", daily, 10),
    ]
}

async fn write_history(db: &TestDb, t0: DateTime<Utc>) {
    let mut tx = db.pool.begin().await.unwrap();
    let mut id = 0;
    for (agent, model, values, every_min) in series() {
        for (i, v) in values.iter().enumerate() {
            // Mid-minute, so each value falls inside exactly one evaluation's window.
            let at = t0 + chrono::Duration::seconds((i * every_min * 60) as i64 + 30);
            sqlx::query(
                "INSERT INTO execution_events (id, run_id, step_id, event_type, agent_name, timestamp, duration_ms, status, meta) \
                 VALUES ($1, 'r', 's', 'agent_call', $2, $3, $4, 'completed', $5)",
            )
            .bind(format!("e{id}"))
            .bind(agent)
            .bind(at.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
            .bind((v * 1000.0).round() as i64)
            .bind(format!("{{\"model\": \"{model}\"}}"))
            .execute(&mut *tx)
            .await
            .unwrap();
            id += 1;
        }
    }
    tx.commit().await.unwrap();
}

/// (rule, model, minute index the alert started at) of every firing notification.
fn fired(got: &[Delivery], t0: DateTime<Utc>) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for p in got.iter().filter_map(|d| d.payload.as_ref()) {
        for a in p.alerts.iter().filter(|_| p.kind == "alert.firing") {
            let starts: DateTime<Utc> = a.starts_at.as_ref().unwrap().parse().unwrap();
            out.push((
                a.rule.clone(),
                a.labels.get("model").unwrap_or("").to_owned(),
                (starts - t0).num_minutes(),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_anomalies_fire_through_rules_store_and_webhook_and_calm_series_stay_quiet() {
    let db = TestDb::new(Backend::Sqlite).await;
    // Whole days back, so the daily wave's hours are real hours of the day.
    let t0 =
        DateTime::<Utc>::from_timestamp((Utc::now().timestamp() / 86_400 - 8) * 86_400, 0).unwrap();
    write_history(&db, t0).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let config = service_config(&db.url, &db.store_url(), &receiver);
    // The service runs no rules of its own: this test drives them, minute by minute.
    let running = start(config, rules("")).await;
    let mut tasks: Vec<RuleTask> = rules(&rules_text())
        .rules
        .iter()
        .map(|r| RuleTask::new(RuleRuntime::new(Arc::clone(r))))
        .collect();
    for minute in 1..=(6 * 1440) {
        let at = t0 + chrono::Duration::minutes(minute);
        for task in &mut tasks {
            let every = match task.runtime.rule.name.as_str() {
                "daily_seasonal" => 10,
                _ if minute > MINUTES as i64 => continue,
                _ => 1,
            };
            if minute % every == 0 {
                running.evaluator.tick(task, at).await;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receiver.deliveries();
    assert!(got.iter().all(|d| d.signature_ok), "signed");
    let fired = fired(&got, t0);
    let at = AT as i64;
    let starts = |rule: &str| -> Vec<(String, i64)> {
        fired
            .iter()
            .filter(|f| f.0 == rule)
            .map(|f| (f.1.clone(), f.2))
            .collect()
    };
    // The alert starts at the evaluation right after the anomalous minute.
    assert_eq!(
        starts("spike_ewma"),
        vec![("anomalous".to_owned(), at + 1)],
        "{fired:?}"
    );
    let shift = starts("shift_changepoint");
    assert!(
        !shift.is_empty()
            && shift.len() <= 2
            && shift
                .iter()
                .all(|(m, t)| m == "anomalous" && (at + 1..at + 12).contains(t)),
        "the shift is reported once, at once: {fired:?}"
    );
    let drift = starts("drift_changepoint");
    assert!(
        !drift.is_empty() && drift.iter().all(|(m, t)| m == "anomalous" && *t > at),
        "the drift is caught after it starts, calm stays quiet: {fired:?}"
    );
    let burst = starts("burst_zscore");
    assert!(
        !burst.is_empty()
            && burst
                .iter()
                .all(|(m, t)| m == "anomalous" && (at + 1..=at + 61).contains(t)),
        "the burst is flagged while it lasts: {fired:?}"
    );
    assert_eq!(
        starts("daily_seasonal"),
        vec![],
        "a daily wave is normal: {fired:?}"
    );
    running.stop(Duration::from_secs(5)).await;
}
