//! One simulated day holding four incidents goes through the live service, its
//! `ManualClock` stepped minute by minute, with SQLite and then PostgreSQL as source and
//! store and a real webhook receiver: the alerts it sends equal what a backtest of the
//! same day finds, after the same warm-up from the days before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use driftwatch::backtest::backtest;
use driftwatch::clock::{Clock, ManualClock};
use driftwatch::demo::receiver::{Delivery, Receiver};
use driftwatch::demo::workload::Run;
use driftwatch::engine::replay::ticks;
use driftwatch::model::AlertState;
use driftwatch::rule::load_rules;
use driftwatch::rule::{Rule, RuleSet, Schedule};
use driftwatch::simulate::labels::{LabelledIncident, LabelsFile};
use driftwatch::simulate::{default_start, generate, write_month, Month};
use driftwatch::sources::dialect::Dialect;
use driftwatch::sources::Source;
use driftwatch::store::Store;

use crate::helpers::{service_config, Backend, TestDb, SECRET};

/// The seed whose second day holds four incident starts (and a day of history before).
const SEED: u64 = 21;
/// Days simulated: one of history, the stepped day, one after it.
const DAYS: u32 = 3;
/// How often the clock is stepped.
const MINUTE: Duration = Duration::from_secs(60);

/// The stepped day: the simulated period's second day.
fn day() -> (DateTime<Utc>, DateTime<Utc>) {
    let start = default_start() + chrono::Duration::days(1);
    (start, start + chrono::Duration::days(1))
}

/// One alert from firing to resolve (`None`: still firing when the day ends).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Episode {
    rule: String,
    fingerprint: String,
    labels: String,
    fired: DateTime<Utc>,
    resolved: Option<DateTime<Utc>>,
}

impl std::fmt::Display for Episode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let resolved = self.resolved.map_or("still firing".to_owned(), |t| {
            t.format("%H:%M:%S").to_string()
        });
        write!(
            f,
            "{} {} ({}) fired {} resolved {resolved}",
            self.rule,
            self.labels,
            &self.fingerprint[..8.min(self.fingerprint.len())],
            self.fired.format("%H:%M:%S"),
        )
    }
}

/// What tells one episode from another: rule, fingerprint and firing start.
type EpisodeKey = (String, String, DateTime<Utc>);

/// A row that finishes during the stepped day: written as still running, then set to
/// its real status when the clock passes its end.
#[derive(Debug, Clone)]
struct Completion {
    at: DateTime<Utc>,
    table: &'static str,
    id: String,
    status: String,
}

/// The period's labels say that at least four incidents start within the day.
fn assert_four_incidents(labels: &LabelsFile) {
    let (start, end) = day();
    let inside: Vec<String> = labels
        .incidents
        .iter()
        .filter(|i| i.start >= start && i.start < end)
        .map(|i| format!("{} {}", i.start.format("%H:%M"), i.name))
        .collect();
    assert!(
        inside.len() >= 4,
        "seed {SEED}: only {} incidents start on {}: {inside:?}",
        inside.len(),
        start.date_naive()
    );
}

/// Every run and step of `runs` that ends after `after`, in order of its end.
fn completions(runs: &[Run], after: DateTime<Utc>) -> Vec<Completion> {
    let mut out = Vec::new();
    for run in runs {
        for (i, step) in run.steps.iter().enumerate() {
            if let Some(at) = step.completed_at.filter(|c| *c > after) {
                let id = format!("{}-s{}", run.id, i + 1);
                let status = step.status.clone();
                out.push(Completion {
                    at,
                    table: "workflow_steps",
                    id,
                    status,
                });
            }
        }
        if let Some(at) = run.completed_at.filter(|c| *c > after) {
            let (id, status) = (run.id.clone(), run.status.clone());
            out.push(Completion {
                at,
                table: "workflow_runs",
                id,
                status,
            });
        }
    }
    out.sort_by_key(|c| c.at);
    out
}

/// A timestamp parameter as the simulator writes timestamps.
fn time_param(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgres => format!("CAST(${n} AS TIMESTAMP)"),
        _ => format!("${n}"),
    }
}

/// Text of a timestamp as the simulator writes it.
fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Makes the database look as it did at `at`: whatever finishes later is still running.
async fn rewind(db: &TestDb, at: DateTime<Utc>) {
    let after = time_param(db.dialect, 1);
    for (table, status) in [
        ("workflow_runs", "executing"),
        ("workflow_steps", "running"),
    ] {
        let sql = format!(
            "UPDATE {table} SET status = '{status}', completed_at = NULL WHERE completed_at > {after}"
        );
        sqlx::query(&sql)
            .bind(time_text(at))
            .execute(&db.pool)
            .await
            .unwrap();
    }
}

/// Writes the real end of each row in `done`, in one transaction.
async fn finish(db: &TestDb, done: &[Completion]) {
    if done.is_empty() {
        return;
    }
    let mut tx = db.pool.begin().await.unwrap();
    for c in done {
        let sql = format!(
            "UPDATE {} SET status = $1, completed_at = {} WHERE id = $3",
            c.table,
            time_param(db.dialect, 2)
        );
        sqlx::query(&sql)
            .bind(&c.status)
            .bind(time_text(c.at))
            .bind(&c.id)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The clock's reading in unix ms.
fn now_ms(clock: &ManualClock) -> i64 {
    clock.now().timestamp_millis()
}

/// Waits until all `tasks` rule tasks sleep on the clock again, failing after 10 s.
async fn all_asleep(clock: &ManualClock, tasks: usize) {
    let wait = tokio::time::timeout(Duration::from_secs(10), clock.sleeping(tasks)).await;
    assert!(
        wait.is_ok(),
        "at {} the {tasks} rule tasks did not all go back to sleep on the clock within 10 s",
        clock.now()
    );
}

/// Each rule was evaluated once per tick of its schedule over the day, no more, no less.
fn assert_every_tick_once(running: &driftwatch::app::Running, rules: &RuleSet) {
    let (start, end) = day();
    for rule in &rules.rules {
        let due = ticks(&rule.schedule, start, end).len() as u64;
        let done = ["ok", "source_error", "query_error", "store_error", "panic"]
            .iter()
            .map(|r| {
                running
                    .metrics
                    .evaluations
                    .with_label_values(&[rule.name.as_str(), r])
                    .get()
            })
            .sum::<u64>();
        let ok = running
            .metrics
            .evaluations
            .with_label_values(&[&rule.name, "ok"])
            .get();
        assert_eq!(
            (done, ok),
            (due, due),
            "{}: evaluations (all, ok) against the ticks in the day",
            rule.name
        );
    }
}

/// Steps the clock over the day a minute at a time. Before each step the rows that end
/// by then get their end; after it, every rule task has evaluated what fell due and
/// sleeps again on the clock, so no tick is skipped or taken twice.
async fn step_day(clock: &ManualClock, db: &TestDb, completions: &[Completion], tasks: usize) {
    let (start, end) = day();
    let mut next = completions.partition_point(|c| c.at <= start);
    all_asleep(clock, tasks).await;
    while now_ms(clock) < end.timestamp_millis() {
        let to = now_ms(clock) + MINUTE.as_millis() as i64;
        let due = completions[next..].partition_point(|c| c.at.timestamp_millis() <= to);
        finish(db, &completions[next..next + due]).await;
        next += due;
        clock.advance(MINUTE);
        all_asleep(clock, tasks).await;
    }
}

/// Waits until every notification is delivered and no group is due to flush.
async fn settle(store: &Store, clock: &ManualClock) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pending = store.outbox_stats().await.unwrap().pending;
        let due = store.next_group_flush().await.unwrap();
        if pending == 0 && due.is_none_or(|t| t > now_ms(clock)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "notifications still undelivered after 20 s: {pending} pending, next group flush {due:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Parses a payload timestamp.
fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The episodes the receiver was told about: each alert's firing start, with its resolve
/// when one was sent. Every delivery must carry a valid signature.
fn live_episodes(deliveries: &[Delivery]) -> BTreeSet<Episode> {
    let mut episodes: BTreeMap<EpisodeKey, Episode> = BTreeMap::new();
    for d in deliveries {
        assert!(d.signature_ok, "delivery {} is not signed right", d.id);
        let payload = d.payload.as_ref().expect("a driftwatch payload");
        for a in &payload.alerts {
            let fired = instant(a.starts_at.as_deref().expect("a sent alert has fired"));
            let key = (a.rule.clone(), a.fingerprint.clone(), fired);
            let episode = episodes.entry(key).or_insert_with(|| Episode {
                rule: a.rule.clone(),
                fingerprint: a.fingerprint.clone(),
                labels: a.labels.to_string(),
                fired,
                resolved: None,
            });
            if a.state == AlertState::Resolved {
                episode.resolved = a.ends_at.as_deref().map(instant);
            }
        }
    }
    episodes.into_values().collect()
}

/// True when a run could be one of `incident`'s: it started while the incident lasted
/// and has the incident's labels.
fn run_of(run: &Run, incident: &LabelledIncident) -> bool {
    let field = |name: &str| match name {
        "mode" => Some(run.mode.as_str()),
        "agent" => Some(run.agent.as_str()),
        "model" => Some(run.model.as_str()),
        _ => None,
    };
    run.started_at >= incident.start - chrono::Duration::hours(1)
        && run.started_at < incident.end
        && incident.labels.iter().all(|(k, v)| field(k) == Some(v))
}

/// Every firing alert carries example rows, worst first; an alert on an incident's slice (or a slice
/// within it) while the incident lasts names runs that really are that incident's: most
/// of its examples, and at least one.
fn assert_examples_are_incident_runs(deliveries: &[Delivery], month: &Month) {
    let runs: BTreeMap<&str, &Run> = month.runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut checked = 0;
    for a in deliveries
        .iter()
        .flat_map(|d| &d.payload.as_ref().unwrap().alerts)
    {
        if a.state != AlertState::Firing {
            continue;
        }
        assert!(
            !a.examples.is_empty(),
            "{} {} carries no example rows",
            a.rule,
            a.labels
        );
        assert!(
            a.examples.windows(2).all(|w| w[0].value >= w[1].value),
            "{} {}: examples are the worst rows, worst first: {:?}",
            a.rule,
            a.labels,
            a.examples
        );
        let fired = instant(a.starts_at.as_deref().unwrap());
        let within = |i: &&LabelledIncident| {
            fired >= i.start
                && fired <= i.end + chrono::Duration::minutes(30)
                && i.labels
                    .iter()
                    .all(|(k, v)| a.labels.get(k) == Some(v.as_str()))
        };
        let Some(incident) = month.labels.incidents.iter().find(within) else {
            continue;
        };
        let ids: Vec<&str> = a
            .examples
            .iter()
            .filter_map(|e| e.run_id.as_deref())
            .collect();
        let theirs = ids
            .iter()
            .filter(|id| runs.get(**id).is_some_and(|r| run_of(r, incident)))
            .count();
        assert!(
            theirs >= 1 && 2 * theirs >= ids.len(),
            "{} {} on {}: only {theirs} of the example runs {ids:?} are the incident's",
            a.rule,
            a.labels,
            incident.name
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "only {checked} alerts on incidents to check examples of"
    );
}

/// How far before the day a rule's baselines learn from history, as the service warms
/// a new rule at start-up (no warm-up for detectors without one).
fn warmup(rule: &Rule) -> chrono::Duration {
    let period = match &rule.schedule {
        Schedule::Every(d) => *d,
        Schedule::Cron(_) => Duration::from_secs(3600),
    };
    let span = rule.detector.warmup_span(period).unwrap_or_default();
    chrono::Duration::from_std(span).unwrap()
}

/// What a backtest finds firing during the day, each rule replayed from the start of
/// its warm-up; alerts that fired during the warm-up are the past for the service too.
async fn backtest_episodes(
    rules: &RuleSet,
    sources: &std::collections::HashMap<String, Arc<dyn Source>>,
) -> BTreeSet<Episode> {
    let (start, end) = day();
    let mut out = BTreeSet::new();
    for rule in &rules.rules {
        let one = RuleSet {
            rules: vec![Arc::clone(rule)],
        };
        let from = start - warmup(rule);
        let report = backtest(&one, sources, from, end, false, &mut |_, _| {})
            .await
            .unwrap();
        let spans = report.rules.iter().flat_map(|r| r.alerts.iter());
        for span in spans.filter(|s| s.start > start) {
            out.insert(Episode {
                rule: span.rule.clone(),
                fingerprint: span.fingerprint.to_string(),
                labels: span.labels.to_string(),
                fired: span.start,
                resolved: span.end,
            });
        }
    }
    out
}

/// Lists episodes one a line, for assertion messages.
fn lines<'a>(episodes: impl IntoIterator<Item = &'a Episode>) -> String {
    episodes
        .into_iter()
        .map(|e| format!("\n  {e}"))
        .collect::<String>()
}

/// The live alerts equal the backtest's, fingerprint, labels and minute for minute.
fn assert_same(live: &BTreeSet<Episode>, replayed: &BTreeSet<Episode>, backend: Backend) {
    let key = |e: &Episode| (e.rule.clone(), e.fingerprint.clone(), e.fired, e.resolved);
    let live_keys: BTreeSet<_> = live.iter().map(key).collect();
    let replayed_keys: BTreeSet<_> = replayed.iter().map(key).collect();
    let only_live = live.iter().filter(|e| !replayed_keys.contains(&key(e)));
    let only_replayed = replayed.iter().filter(|e| !live_keys.contains(&key(e)));
    assert!(
        live_keys == replayed_keys,
        "{backend:?}: the live service and the backtest disagree over {}.\n\
         only live:{}\nonly backtest:{}\nboth agree on:{}",
        day().0.date_naive(),
        lines(only_live),
        lines(only_replayed),
        lines(live.iter().filter(|e| replayed_keys.contains(&key(e)))),
    );
}

async fn live_day_equals_backtest(backend: Backend) {
    let began = Instant::now();
    let (start, _) = day();
    let month = generate(SEED, default_start(), DAYS);
    assert_four_incidents(&month.labels);
    let db = TestDb::new(backend).await;
    write_month(&db.pool, db.dialect, &month.runs)
        .await
        .unwrap();
    rewind(&db, start).await;
    let receiver = Receiver::start(Some(SECRET), 0, false).await.unwrap();
    let mut config = service_config(&db.url, &db.store_url(), &receiver);
    config.rules_dir = format!("{}/rules", env!("CARGO_MANIFEST_DIR")).into();
    let rules = load_rules(&config.rules_dir, &config.rule_context()).unwrap();
    let clock = ManualClock::new(start);
    driftwatch::telemetry::init_logging(Default::default(), "warn");
    let running = driftwatch::app::start(config.clone(), rules.clone(), Arc::new(clock.clone()))
        .await
        .unwrap();
    let ready = began.elapsed();
    step_day(
        &clock,
        &db,
        &completions(&month.runs, start),
        rules.rules.len(),
    )
    .await;
    let stepped = began.elapsed();
    assert_every_tick_once(&running, &rules);
    settle(&running.store, &clock).await;
    let live = live_episodes(&receiver.deliveries());
    assert_examples_are_incident_runs(&receiver.deliveries(), &month);
    running.stop(Duration::from_secs(5)).await;

    let sources = driftwatch::app::build_sources(&config).unwrap();
    let replayed = backtest_episodes(&rules, &sources).await;
    eprintln!(
        "{backend:?}: ready {ready:.1?}, day stepped {stepped:.1?}, backtest done {:.1?}; \
         {} alerts:{}",
        began.elapsed(),
        live.len(),
        lines(&live)
    );
    assert!(
        !live.is_empty() || !replayed.is_empty(),
        "{backend:?}: no alert fired all day, live or replayed: the comparison would prove nothing"
    );
    assert_same(&live, &replayed, backend);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_day_on_sqlite_sends_what_backtest_finds() {
    live_day_equals_backtest(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_day_on_postgres_sends_what_backtest_finds() {
    live_day_equals_backtest(Backend::Postgres).await;
}
