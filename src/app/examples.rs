//! The rows behind an alert: when an alert starts firing, its slice's worst rows of the
//! window (runs, steps, sessions and their values) are read from the source and carried
//! on the alert and in its notification, so a person can jump from the page to the runs.

use chrono::{DateTime, Utc};

use crate::engine::evaluate::EvaluationOutcome;
use crate::engine::evaluate::RuleRuntime;
use crate::model::payload::Example;
use crate::model::AlertState;
use crate::rule::Rule;
use crate::sources::{FetchRequest, Observation, Source};

/// How many rows an alert carries.
pub const EXAMPLES: usize = 5;

/// Reads the examples of every alert that starts firing in `outcome` and puts them on
/// the transition, the alert written to the store and the runtime's alert. A source that
/// fails to answer costs the examples, never the alert.
pub async fn attach_examples(
    source: &dyn Source,
    rule: &Rule,
    (after, until): (DateTime<Utc>, DateTime<Utc>),
    outcome: &mut EvaluationOutcome,
    runtime: &mut RuleRuntime,
) {
    for t in outcome.transitions.iter_mut() {
        if t.alert.state != AlertState::Firing || t.from == AlertState::Firing {
            continue;
        }
        let request = FetchRequest {
            query: &rule.query,
            after,
            until,
        };
        let examples = match source.examples(request, &t.alert.group, EXAMPLES).await {
            Ok(rows) => rows.iter().map(example_of).collect::<Vec<_>>(),
            Err(e) => {
                tracing::warn!(rule = %rule.name, error = %e, "could not read the alert's example rows");
                continue;
            }
        };
        let fp = t.alert.fingerprint.clone();
        for a in outcome.alerts.iter_mut().filter(|a| a.fingerprint == fp) {
            a.examples = examples.clone();
        }
        if let Some(g) = runtime.groups.get_mut(&fp) {
            g.alert.examples = examples.clone();
        }
        t.alert.examples = examples;
    }
}

/// One row as an example: its ids from the columns the examples query adds.
fn example_of(row: &Observation) -> Example {
    let id = |name: &str| {
        row.labels
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Example {
        run_id: id("run_id"),
        step_id: id("step_id"),
        session_id: id("session_id"),
        value: row.sample.value,
        at: row
            .sample
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}
