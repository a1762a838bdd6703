//! Budgets over simulated traffic (the workload generator's library code, without its
//! injected incidents): a week that ends under budget raises no burn-rate, forecast or
//! 100 % alert, and a jump to 16× the even pace raises the fast-burn alert within an
//! hour — on SQLite and PostgreSQL sources.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use driftwatch::budget::replay::{replay, BudgetReplay};
use driftwatch::budget::{parse_budgets, Budget};
use driftwatch::demo::workload::Run;
use driftwatch::rule::RuleContext;
use driftwatch::simulate::default_start;
use driftwatch::simulate::dist::substream;
use driftwatch::simulate::traffic::{arrivals, as_of, build_run, NewModelRollout, Normal};
use driftwatch::simulate::writer::write_runs;
use driftwatch::sources::sql::SqlSource;
use driftwatch::types::Secret;
use driftwatch::types::SourceFile;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::helpers::{Backend, TestDb};

/// `days` of normal simulated traffic from `start` (no incidents), the new model
/// rolled out from mid-period as the generator does.
pub fn normal_runs(seed: u64, start: DateTime<Utc>, days: i64) -> Vec<Run> {
    runs_with_rollout(seed, start, days, start + chrono::Duration::days(days / 2))
}

/// `days` of normal simulated traffic from `start`, the new model rolled out (over two
/// days) from `rollout`.
pub fn runs_with_rollout(
    seed: u64,
    start: DateTime<Utc>,
    days: i64,
    rollout: DateTime<Utc>,
) -> Vec<Run> {
    let end = start + chrono::Duration::days(days);
    let mut rng = StdRng::seed_from_u64(substream(seed, 0));
    let rollout = NewModelRollout {
        from: rollout,
        ramp: chrono::Duration::days(2),
    };
    arrivals(&mut rng, start, end, rollout)
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut run_rng = StdRng::seed_from_u64(substream(seed, 2 + i as u64));
            as_of(build_run(&mut run_rng, a, i as u64 + 1, &Normal), end)
        })
        .collect()
}

/// Every call's (finish time, cost) as the writer records it.
pub fn calls(runs: &[Run]) -> Vec<(DateTime<Utc>, f64)> {
    let mut out = Vec::new();
    for step in runs.iter().flat_map(|r| &r.steps) {
        let mut at = step.started_at;
        for c in &step.calls {
            at += chrono::Duration::milliseconds((c.seconds * 1000.0) as i64);
            out.push((at, c.cost_usd));
        }
    }
    out
}

/// Multiplies the cost of every call finishing in `[from, from + 1 h)` by `factor`.
pub fn jump(runs: &mut [Run], from: DateTime<Utc>, factor: f64) {
    let until = from + chrono::Duration::hours(1);
    for step in runs.iter_mut().flat_map(|r| r.steps.iter_mut()) {
        let mut at = step.started_at;
        for c in step.calls.iter_mut() {
            at += chrono::Duration::milliseconds((c.seconds * 1000.0) as i64);
            if at >= from && at < until {
                c.cost_usd *= factor;
            }
        }
    }
}

/// Spend of calls finishing in `(from, to]`.
pub fn spend(runs: &[Run], from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    calls(runs)
        .iter()
        .filter(|(t, _)| *t > from && *t <= to)
        .map(|(_, c)| c)
        .sum()
}

/// A platform-wide weekly `llm.cost` budget of `amount`, judged every five minutes.
pub fn weekly_budget(amount: f64) -> Arc<Budget> {
    let text = format!(
        "[[budget]]\nname = \"platform_weekly\"\nmetric = \"llm.cost\"\namount = {amount}\n\
         period = \"week\"\ntimezone = \"UTC\"\nevery = \"5m\"\n"
    );
    let ctx = RuleContext {
        sources: vec!["cmbagent".to_owned()],
        ..Default::default()
    };
    parse_budgets(&[SourceFile::new("b.toml", text)], &ctx)
        .unwrap()
        .remove(0)
}

async fn replay_on(backend: Backend, runs: &[Run], budget: Arc<Budget>) -> BudgetReplay {
    let db = TestDb::new(backend).await;
    write_runs(&db.pool, db.dialect, runs).await.unwrap();
    let source = SqlSource::new(
        "cmbagent",
        &Secret::new(db.url.clone()),
        Duration::from_secs(30),
    )
    .unwrap();
    let start = default_start();
    let out = replay(budget, &source, start, start + chrono::Duration::days(7))
        .await
        .unwrap();
    db.drop_db().await;
    out
}

fn kinds(r: &BudgetReplay) -> Vec<(String, DateTime<Utc>)> {
    r.alerts.iter().map(|a| (a.kind.clone(), a.start)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_under_budget_raises_no_burn_forecast_or_100_percent_alert_and_a_16x_jump_fires_fast_burn_within_the_hour(
) {
    let start = default_start();
    let week_end = start + chrono::Duration::days(7);
    let runs = normal_runs(11, start, 7);
    let actual = spend(&runs, start, week_end);
    let amount = (actual * 1.25).round();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let r = replay_on(backend, &runs, weekly_budget(amount)).await;
        let fired = kinds(&r);
        assert!(
            fired
                .iter()
                .all(|(k, _)| k == "spent_50" || k == "spent_80"),
            "{backend:?}: a week ending at {actual:.0} of {amount} raised {fired:?}\n{:#?}",
            r.alerts
        );
        assert!(fired.iter().any(|(k, _)| k == "spent_50"), "{fired:?}");
        assert_eq!(r.forecasts.len(), 7, "one forecast per day of the week");
        let mid = &r.forecasts[3];
        assert!(mid.error.abs() < 0.25, "{mid:?}");

        // Wednesday 14:00: the hour's calls cost 16× the even pace.
        let at = start + chrono::Duration::hours(2 * 24 + 14);
        let hour = spend(&runs, at, at + chrono::Duration::hours(1));
        let mut hot = runs.clone();
        let factor = 16.0 * (amount / (7.0 * 24.0)) / hour;
        jump(&mut hot, at, factor);
        let r = replay_on(backend, &hot, weekly_budget(amount)).await;
        let fast: Vec<_> = kinds(&r)
            .into_iter()
            .filter(|(k, _)| k == "fast_burn")
            .collect();
        let first = fast
            .first()
            .unwrap_or_else(|| panic!("{backend:?}: no fast burn: {:#?}", r.alerts))
            .1;
        assert!(
            first > at && first <= at + chrono::Duration::hours(1),
            "{backend:?}: fast burn at {first}, jump at {at}"
        );
        assert_eq!(fast.len(), 1, "{fast:?}");
    }
}
