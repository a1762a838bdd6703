//! `driftwatch simulate`: a labelled month of CMBAgent traffic, deterministic per seed,
//! written to SQLite or PostgreSQL, with a labels file saying which incidents were
//! injected where (`backtest --incidents` scores alerts against it).
//!
//! [`traffic`] draws normal runs (daily and weekly cycle, modes, agents, models, a new
//! model mid-month), [`incidents`] places one incident of every kind and bends the runs
//! of its slice, [`writer`] writes the rows in batches, [`labels`] is the file format.

pub mod dist;
pub mod incidents;
pub mod labels;
pub mod traffic;
pub mod writer;

use std::path::PathBuf;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::AnyPool;

use crate::demo::schema::create_schema;
use crate::demo::workload::Run;
use crate::model::Labels;
use crate::sources::dialect::Dialect;
use crate::{Error, Result};
use dist::substream;
use incidents::{place, Injected};
use labels::{LabelsFile, NotIncident, Volumes, LABELS_VERSION};
use traffic::{arrivals, as_of, build_run, NewModelRollout, NEW_MODEL};

/// The default first instant: a Monday at midnight UTC.
pub fn default_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A generated period: its runs and its labels.
#[derive(Debug, Clone)]
pub struct Month {
    /// Every run, in start order, as the database holds it at the end of the period.
    pub runs: Vec<Run>,
    /// What was injected, and the new model.
    pub labels: LabelsFile,
    /// The incidents with their physics.
    pub injected: Vec<Injected>,
}

/// How long the first part of the period is kept free of incidents, so baselines have
/// history to learn from: a quarter of the period, at most 7 days.
pub fn warmup(days: u32) -> Duration {
    (Duration::hours(6) * days as i32).min(Duration::days(7))
}

/// Generates `days` days from `start` with `seed`: the same seed gives the same rows.
pub fn generate(seed: u64, start: DateTime<Utc>, days: u32) -> Month {
    let end = start + Duration::days(days as i64);
    let mut rng = StdRng::seed_from_u64(substream(seed, 0));
    let from =
        start + Duration::seconds((days as f64 * 86_400.0 * rng.gen_range(0.45..0.55)) as i64);
    let rollout = NewModelRollout {
        from,
        ramp: Duration::days(2),
    };
    let planned = arrivals(&mut rng, start, end, rollout);
    let mut incident_rng = StdRng::seed_from_u64(substream(seed, 1));
    let (injected, skipped) = place(&mut incident_rng, &planned, start + warmup(days), end);
    let runs: Vec<Run> = planned
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut run_rng = StdRng::seed_from_u64(substream(seed, 2 + i as u64));
            as_of(build_run(&mut run_rng, a, i as u64 + 1, &injected), end)
        })
        .collect();
    let labels = LabelsFile {
        version: LABELS_VERSION,
        seed,
        start,
        end,
        volumes: volumes(&runs),
        incidents: injected.iter().map(Injected::label).collect(),
        not_incidents: vec![new_model_label(rollout, end)],
        skipped,
    };
    Month {
        runs,
        labels,
        injected,
    }
}

fn new_model_label(rollout: NewModelRollout, end: DateTime<Utc>) -> NotIncident {
    NotIncident {
        name: format!("new model {}", NEW_MODEL.name),
        kind: "new_model".to_owned(),
        labels: Labels::new().with("model", NEW_MODEL.name),
        start: rollout.from,
        end,
        detail: format!(
            "introduced mid-period, {:.0} % of runs after {} days; slower (median call {} s) \
             and pricier (${}/M prompt tokens) by nature: not an incident, should raise no alert",
            NEW_MODEL.share * 100.0,
            rollout.ramp.num_days(),
            NEW_MODEL.latency,
            NEW_MODEL.prompt_price * 1e6
        ),
    }
}

/// Counts runs, steps, calls and failures.
pub fn volumes(runs: &[Run]) -> Volumes {
    Volumes {
        runs: runs.len(),
        steps: runs.iter().map(|r| r.steps.len()).sum(),
        llm_calls: runs
            .iter()
            .flat_map(|r| &r.steps)
            .map(|s| s.calls.len())
            .sum(),
        failed_runs: runs.iter().filter(|r| r.status == "failed").count(),
    }
}

/// What `driftwatch simulate` was asked to do.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// The seed.
    pub seed: u64,
    /// How many days.
    pub days: u32,
    /// The first instant.
    pub start: DateTime<Utc>,
    /// A SQLite path or URL, or a PostgreSQL URL.
    pub out: String,
    /// Where the labels JSON goes.
    pub labels: PathBuf,
}

/// The database URL and dialect for `--out`: `postgres://…`, `sqlite:…`, or a file path.
pub fn out_url(out: &str) -> (String, Dialect) {
    if out.starts_with("postgres://") || out.starts_with("postgresql://") {
        (out.to_owned(), Dialect::Postgres)
    } else if out.starts_with("sqlite:") {
        (out.to_owned(), Dialect::Sqlite)
    } else {
        (format!("sqlite://{out}?mode=rwc"), Dialect::Sqlite)
    }
}

/// Generates the period, writes it to the database (which must hold no runs yet) and the
/// labels file; returns the labels and the seconds spent writing.
pub async fn simulate(options: &SimulateOptions) -> Result<(LabelsFile, f64)> {
    if options.days == 0 {
        return Err(Error::Other("--days must be at least 1".into()));
    }
    let month = generate(options.seed, options.start, options.days);
    let started = std::time::Instant::now();
    let (url, dialect) = out_url(&options.out);
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&url)
        .await
        .map_err(|e| Error::Other(format!("cannot open {}: {e}", options.out)))?;
    write_month(&pool, dialect, &month.runs)
        .await
        .map_err(|e| Error::Other(format!("cannot write to {}: {e}", options.out)))?;
    pool.close().await;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(&options.labels, month.labels.to_json()).map_err(|e| Error::Io {
        path: options.labels.display().to_string(),
        source: e,
    })?;
    Ok((month.labels, seconds))
}

/// Creates the schema and writes the runs, refusing a database that already holds runs
/// (ids would collide and the labels would not describe it).
pub async fn write_month(
    pool: &AnyPool,
    dialect: Dialect,
    runs: &[Run],
) -> std::result::Result<(), sqlx::Error> {
    create_schema(pool, dialect).await?;
    let (existing,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM workflow_runs")
        .fetch_one(pool)
        .await?;
    if existing > 0 {
        return Err(sqlx::Error::Protocol(format!(
            "it already holds {existing} workflow runs; give a new database"
        )));
    }
    writer::write_runs(pool, dialect, runs).await
}

/// The labels as a short text: volumes and each incident.
pub fn summary(labels: &LabelsFile, write_seconds: f64) -> String {
    let v = labels.volumes;
    let mut out = format!(
        "{} → {}: {} runs ({} failed), {} steps, {} LLM calls, written in {:.1} s\n",
        labels.start.format("%Y-%m-%d %H:%M"),
        labels.end.format("%Y-%m-%d %H:%M"),
        v.runs,
        v.failed_runs,
        v.steps,
        v.llm_calls,
        write_seconds
    );
    for i in &labels.incidents {
        out.push_str(&format!(
            "  {} → {}  {} ({} runs)\n",
            i.start.format("%Y-%m-%d %H:%M"),
            i.end.format("%Y-%m-%d %H:%M"),
            i.name,
            i.affected_runs
        ));
    }
    for n in &labels.not_incidents {
        out.push_str(&format!(
            "  {} →  not an incident: {}\n",
            n.start.format("%Y-%m-%d %H:%M"),
            n.name
        ));
    }
    for s in &labels.skipped {
        out.push_str(&format!("  skipped {s}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};
    use labels::Kind;

    fn month(seed: u64) -> Month {
        generate(seed, default_start(), 28)
    }

    #[test]
    fn the_same_seed_writes_the_same_month_and_another_seed_another() {
        let (a, b, c) = (month(3), month(3), month(4));
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.runs.len(), b.runs.len());
        assert!(a
            .runs
            .iter()
            .zip(&b.runs)
            .all(|(x, y)| format!("{x:?}") == format!("{y:?}")));
        assert_ne!(a.labels.incidents, c.labels.incidents);
    }

    #[test]
    fn volumes_daily_and_weekly_shape_failures_and_the_new_model() {
        let m = month(1);
        let v = m.labels.volumes;
        assert!((6_500..8_500).contains(&v.runs), "{v:?}");
        assert!((60_000..100_000).contains(&v.llm_calls), "{v:?}");
        let failed = v.failed_runs as f64 / v.runs as f64;
        assert!((0.012..0.035).contains(&failed), "{failed}");
        let (mut peak, mut night, mut weekend) = (0.0, 0.0, 0.0);
        for r in &m.runs {
            let (h, d) = (r.started_at.hour(), r.started_at.weekday());
            let weekday = !matches!(d, Weekday::Sat | Weekday::Sun);
            match (weekday, h) {
                (true, 10..=14) => peak += 1.0 / 5.0,
                (true, 0..=4) => night += 1.0 / 5.0,
                (false, 10..=14) => weekend += 1.0 / 5.0,
                _ => {}
            }
        }
        // Per hour, per day of its kind (20 weekdays, 8 weekend days).
        let (peak, night, weekend) = (peak / 20.0, night / 20.0, weekend / 8.0);
        assert!(
            (150.0..450.0).contains(&(peak * 11.78)),
            "weekday volume {peak}/h at peak"
        );
        assert!(
            (0.06..0.16).contains(&(night / peak)),
            "night {night} peak {peak}"
        );
        assert!(
            (0.22..0.45).contains(&(weekend / peak)),
            "weekend {weekend} peak {peak}"
        );
        let new = &m.labels.not_incidents[0];
        assert_eq!(new.labels.get("model"), Some(NEW_MODEL.name));
        let first = m
            .runs
            .iter()
            .find(|r| r.model == NEW_MODEL.name)
            .map(|r| r.started_at);
        let day = first.map(|t| (t - m.labels.start).num_hours() as f64 / 24.0);
        assert!(day.is_some_and(|d| (12.0..16.5).contains(&d)), "{day:?}");
        assert!(first >= Some(new.start));
        let mut deep: Vec<f64> = m
            .runs
            .iter()
            .filter(|r| r.mode == "deep_research" && r.completed_at.is_some())
            .map(|r| r.duration().num_seconds() as f64)
            .collect();
        deep.sort_by(f64::total_cmp);
        let (median, p99) = (deep[deep.len() / 2], deep[deep.len() * 99 / 100]);
        assert!(
            p99 > 3.0 * median,
            "deep research has a long tail: {median} {p99}"
        );
    }

    #[test]
    fn every_kind_once_in_range_apart_and_after_the_warmup() {
        for seed in 1..=5 {
            let m = month(seed);
            let l = &m.labels;
            assert!(l.skipped.is_empty(), "{:?}", l.skipped);
            let mut kinds: Vec<Kind> = l.incidents.iter().map(|i| i.kind).collect();
            kinds.sort();
            assert_eq!(kinds, Kind::ALL.to_vec(), "seed {seed}");
            for (n, i) in l.incidents.iter().enumerate() {
                let minutes = (i.end - i.start).num_minutes();
                let (lo, hi, mlo, mhi) = match i.kind {
                    Kind::LatencySpike => (20, 120, 2.0, 5.0),
                    Kind::FailureBurst => (30, 90, 0.2, 0.6),
                    Kind::CostJump => (120, 360, 3.0, 10.0),
                    Kind::HungSteps => (60, 240, 0.03, 0.15),
                    Kind::SlowWorkflows => (60, 180, 0.5, 1.5),
                    Kind::Drift => (4 * 1440, 8 * 1440, 0.25, 0.6),
                };
                assert!(
                    (lo..=hi).contains(&minutes),
                    "{} lasts {minutes} min",
                    i.name
                );
                assert!((mlo..=mhi).contains(&i.magnitude), "{}", i.name);
                assert!(
                    i.start >= l.start + warmup(28) && i.end <= l.end,
                    "{}",
                    i.name
                );
                assert!(i.delay_from >= i.start && i.delay_from <= i.end);
                assert!(i.labels.get("model") != Some(NEW_MODEL.name));
                if let Some(next) = l.incidents.get(n + 1) {
                    assert!(
                        next.start >= i.end + incidents::GAP,
                        "{} / {}",
                        i.name,
                        next.name
                    );
                }
            }
        }
    }

    #[test]
    fn incidents_really_bend_their_slice() {
        let m = month(2);
        for i in &m.injected {
            let inside = |r: &&Run| r.started_at >= i.start && r.started_at < i.end;
            let slice = |r: &&Run| {
                i.slice.iter().all(|(k, v)| match k.as_str() {
                    "mode" => &r.mode == v,
                    "agent" => &r.agent == v,
                    "model" => &r.model == v,
                    _ => false,
                })
            };
            let n = m.runs.iter().filter(inside).filter(slice).count();
            assert_eq!(n, i.affected_runs, "{:?}", i.label().name);
        }
        let burst = m
            .labels
            .incidents
            .iter()
            .find(|i| i.kind == Kind::FailureBurst)
            .unwrap();
        let inc = m.injected.iter().find(|i| i.start == burst.start).unwrap();
        let failed = m
            .runs
            .iter()
            .filter(|r| r.started_at >= burst.start && r.started_at < burst.end)
            .filter(|r| {
                inc.slice.iter().all(|(k, v)| match k.as_str() {
                    "mode" => &r.mode == v,
                    "agent" => &r.agent == v,
                    "model" => &r.model == v,
                    _ => false,
                })
            })
            .filter(|r| r.status == "failed")
            .count();
        assert!(
            failed as f64 >= 0.1 * burst.affected_runs as f64,
            "{failed} of {}",
            burst.affected_runs
        );
    }

    #[test]
    fn labels_round_trip_and_reject_other_versions() {
        let l = month(5).labels;
        assert_eq!(LabelsFile::from_json(&l.to_json()).unwrap(), l);
        let other = l.to_json().replacen("\"version\": 2", "\"version\": 3", 1);
        assert!(LabelsFile::from_json(&other)
            .unwrap_err()
            .contains("version 3"));
    }
}
