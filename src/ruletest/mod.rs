//! Rule unit tests (`driftwatch test`), in the spirit of `promtool test rules`: input
//! series in compact notation, evaluation times, and the alerts expected then.

pub mod notation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::rule::Rule;

use crate::engine::evaluate::RuleRuntime;
use crate::engine::replay::replay;
use crate::model::{AlertState, Labels, Sample};
use crate::rule::{parse_rules, RuleContext};
use crate::sources::Observation;
use crate::sources::RuleQuery;
use crate::types::DurationSpec;
use crate::types::SourceFile;

/// A rule test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule files, relative to the test file.
    pub rule_files: Vec<PathBuf>,
    /// When the series begin (default 2026-01-05T00:00:00Z, a Monday).
    #[serde(default)]
    pub start: Option<String>,
    /// Input series.
    #[serde(default)]
    pub series: Vec<SeriesInput>,
    /// What to check.
    #[serde(default)]
    pub alert_test: Vec<AlertTest>,
}

/// One input series.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesInput {
    /// The catalog metric it stands for (for rules with `metric`).
    #[serde(default)]
    pub metric: Option<String>,
    /// The rule whose `query` it stands for (for rules with their own SQL).
    #[serde(default)]
    pub rule: Option<String>,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Time between samples (default 1m).
    #[serde(default)]
    pub interval: Option<DurationSpec>,
    /// Values in compact notation.
    pub values: String,
}

/// The alerts expected from one rule at one time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    /// Time since `start`.
    pub at: DurationSpec,
    /// The rule.
    pub rule: String,
    /// Alerts pending or firing then; empty means none.
    #[serde(default)]
    pub expected: Vec<ExpectedAlert>,
}

/// One expected alert.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    /// Labels it must carry (others may be present).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `firing` (default) or `pending`.
    #[serde(default = "firing")]
    pub state: String,
    /// The exact summary, if given.
    #[serde(default)]
    pub summary: Option<String>,
}

fn firing() -> String {
    "firing".to_owned()
}

/// The outcome of one test file.
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// Alert tests that passed.
    pub passed: usize,
    /// Readable descriptions of each failure.
    pub failures: Vec<String>,
}

/// Names used by the rule files, so rules validate without a service configuration.
fn context_for(texts: &[SourceFile]) -> RuleContext {
    let mut ctx = RuleContext {
        sources: vec!["default".into()],
        source_kinds: Default::default(),
        ..Default::default()
    };
    for f in texts {
        let Ok(table) = f.text.parse::<toml::Table>() else {
            continue;
        };
        let rules = table
            .get("rule")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        for r in rules {
            if let Some(s) = r.get("source").and_then(|s| s.as_str()) {
                if !ctx.sources.iter().any(|x| x == s) {
                    ctx.sources.push(s.to_owned());
                }
            }
            for rec in r
                .get("receivers")
                .and_then(|r| r.as_array())
                .cloned()
                .unwrap_or_default()
            {
                if let Some(rec) = rec.as_str() {
                    ctx.receivers.push(rec.to_owned());
                }
            }
        }
    }
    if ctx.sources.len() > 1 {
        ctx.sources.retain(|s| s != "default");
    }
    ctx
}

fn observations_for(
    rule: &Rule,
    file: &TestFile,
    start: DateTime<Utc>,
) -> Result<Vec<Observation>, String> {
    let mut out = Vec::new();
    for s in &file.series {
        let applies = match (&rule.query, &s.metric, &s.rule) {
            (RuleQuery::Catalog { metric, filter }, Some(m), _) => {
                metric.name() == m
                    && crate::sources::catalog::filter_matches(filter, &Labels(s.labels.clone()))
            }
            (RuleQuery::Sql { .. }, _, Some(r)) => *r == rule.name,
            _ => false,
        };
        if !applies {
            continue;
        }
        let step = s
            .interval
            .map(|d| d.get())
            .unwrap_or(std::time::Duration::from_secs(60));
        let step = crate::time_math::delta(step);
        let labels = std::sync::Arc::new(Labels(s.labels.clone()));
        for (i, v) in notation::expand(&s.values)?.into_iter().enumerate() {
            if let Some(value) = v {
                out.push(Observation {
                    labels: labels.clone(),
                    sample: Sample {
                        ts: crate::time_math::later_by(
                            start,
                            step.checked_mul(i as i32).unwrap_or(chrono::TimeDelta::MAX),
                        ),
                        value,
                    },
                });
            }
        }
    }
    out.sort_by_key(|o| o.sample.ts);
    Ok(out)
}

/// Runs one test file.
pub fn run_file(path: &Path) -> Result<FileOutcome, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: TestFile = toml::from_str(&text).map_err(|e| {
        let pos = e
            .span()
            .map(|s| SourceFile::new("", text.as_str()).position(s.start))
            .unwrap_or((0, 0));
        format!("{}:{}:{}: {}", path.display(), pos.0, pos.1, e.message())
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut sources = Vec::new();
    for f in &file.rule_files {
        let p = base.join(f);
        let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        sources.push(SourceFile::new(p.display().to_string(), t));
    }
    let rules = parse_rules(&sources, &context_for(&sources)).map_err(|e| e.to_string())?;
    let start = match &file.start {
        Some(s) => crate::sources::sql::parse_timestamp(s)?,
        None => DateTime::from_timestamp(1_767_571_200, 0).expect("valid"),
    };
    let mut outcome = FileOutcome::default();
    for test in &file.alert_test {
        let rule: Arc<Rule> = rules
            .rules
            .iter()
            .find(|r| r.name == test.rule)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{}: no rule named {:?} in rule_files",
                    path.display(),
                    test.rule
                )
            })?;
        let history = observations_for(&rule, &file, start)?;
        let mut runtime = RuleRuntime::new(Arc::clone(&rule));
        runtime.collect_baselines = false;
        let at = crate::time_math::later(start, test.at.get());
        replay(&mut runtime, &history, start, at, |_, _| {});
        let mut got: Vec<_> = runtime
            .groups
            .values()
            .map(|g| &g.alert)
            .filter(|a| matches!(a.state, AlertState::Pending | AlertState::Firing))
            .collect();
        got.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut unmatched: Vec<_> = got.clone();
        let mut missing = Vec::new();
        for e in &test.expected {
            let pos = unmatched.iter().position(|a| {
                a.state.as_str() == e.state
                    && e.labels
                        .iter()
                        .all(|(k, v)| a.labels.get(k) == Some(v.as_str()))
                    && e.summary.as_ref().is_none_or(|s| *s == a.summary)
            });
            match pos {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => missing.push(e),
            }
        }
        if missing.is_empty() && unmatched.is_empty() {
            outcome.passed += 1;
            continue;
        }
        let mut msg = format!(
            "{}: rule {:?} at {} ({}):\n  expected:\n",
            path.display(),
            test.rule,
            test.at,
            at.format("%Y-%m-%d %H:%M:%S")
        );
        if test.expected.is_empty() {
            msg.push_str("    (no alerts)\n");
        }
        for e in &test.expected {
            let mark = if missing.contains(&e) { "-" } else { " " };
            let labels = Labels(e.labels.clone());
            msg.push_str(&format!("  {mark} {} {{{labels}}}", e.state));
            if let Some(s) = &e.summary {
                msg.push_str(&format!(" summary={s:?}"));
            }
            msg.push('\n');
        }
        msg.push_str("  got:\n");
        if got.is_empty() {
            msg.push_str("    (no alerts)\n");
        }
        for a in &got {
            let mark = if unmatched.iter().any(|u| u.fingerprint == a.fingerprint) {
                "+"
            } else {
                " "
            };
            msg.push_str(&format!(
                "  {mark} {} {{{}}} summary={:?}\n",
                a.state, a.labels, a.summary
            ));
        }
        outcome.failures.push(msg);
    }
    Ok(outcome)
}
