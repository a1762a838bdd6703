//! The built-in metric catalog: CMBAgent's workflow tables turned into named metrics.
//!
//! Tables (see DESIGN.md "What it reads"): `workflow_runs`, `workflow_steps`,
//! `cost_records`, `execution_events`. Every catalog query returns the columns `ts`
//! (unix seconds), `value` (float) and one text column per label.

use crate::model::Labels;
use crate::sources::dialect::Dialect;

/// A metric the catalog knows how to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogMetric {
    /// Seconds from start to finish of a finished run.
    WorkflowDuration,
    /// Age in seconds of runs still planning or executing (sampled now).
    WorkflowRunningDuration,
    /// USD spent by a finished run (sum of its cost records).
    WorkflowCost,
    /// One per run started (use `count` or `rate`).
    WorkflowCount,
    /// 1 for a failed run, 0 for a completed one (use `ratio`).
    WorkflowErrorRate,
    /// Seconds from start to finish of a finished step.
    StepDuration,
    /// Age in seconds of steps still running (sampled now): finds hung steps.
    StepRunningDuration,
    /// 1 for a failed step, 0 for a completed one (use `ratio`).
    StepErrorRate,
    /// Seconds an LLM (agent) call took.
    LlmCallDuration,
    /// Total tokens of one LLM call.
    LlmTokens,
    /// Prompt tokens of one LLM call.
    LlmPromptTokens,
    /// Completion tokens of one LLM call.
    LlmCompletionTokens,
    /// USD of one LLM call.
    LlmCost,
}

/// How one metric is read: where from, which time column bounds it, what the value is.
struct Spec {
    from: &'static str,
    time_col: &'static str,
    value: &'static str,
    condition: &'static str,
    labels: &'static [(&'static str, &'static str)],
}

pub(super) const RUN_LABELS: &[(&str, &str)] = &[
    ("mode", "r.mode"),
    ("agent", "r.agent"),
    ("model", "r.model"),
    ("status", "r.status"),
    ("session_id", "r.session_id"),
];

pub(super) const STEP_LABELS: &[(&str, &str)] = &[
    ("step_number", "s.step_number"),
    ("status", "s.status"),
    ("mode", "r.mode"),
    ("agent", "r.agent"),
    ("model", "r.model"),
    ("session_id", "s.session_id"),
];

const COST_LABELS: &[(&str, &str)] = &[
    ("model", "c.model"),
    ("agent", "r.agent"),
    ("mode", "r.mode"),
    ("session_id", "c.session_id"),
];

pub(super) const RUNS: &str = "workflow_runs r";
pub(super) const STEPS: &str = "workflow_steps s LEFT JOIN workflow_runs r ON r.id = s.run_id";
const COSTS: &str = "cost_records c LEFT JOIN workflow_runs r ON r.id = c.run_id";
const FINISHED_RUN: &str = "r.status IN ('completed', 'failed') AND r.completed_at IS NOT NULL";
const FINISHED_STEP: &str = "s.status IN ('completed', 'failed') AND s.completed_at IS NOT NULL";
const ACTIVE_RUN: &str =
    "r.status IN ('planning', 'executing') AND r.completed_at IS NULL AND r.started_at IS NOT NULL";
const ACTIVE_STEP: &str = "s.status IN ('running', 'executing', 'in_progress') AND s.completed_at IS NULL AND s.started_at IS NOT NULL";

impl CatalogMetric {
    /// Every catalog metric.
    pub const ALL: [CatalogMetric; 13] = [
        CatalogMetric::WorkflowDuration,
        CatalogMetric::WorkflowRunningDuration,
        CatalogMetric::WorkflowCost,
        CatalogMetric::WorkflowCount,
        CatalogMetric::WorkflowErrorRate,
        CatalogMetric::StepDuration,
        CatalogMetric::StepRunningDuration,
        CatalogMetric::StepErrorRate,
        CatalogMetric::LlmCallDuration,
        CatalogMetric::LlmTokens,
        CatalogMetric::LlmPromptTokens,
        CatalogMetric::LlmCompletionTokens,
        CatalogMetric::LlmCost,
    ];

    /// The name rules use.
    pub fn name(self) -> &'static str {
        match self {
            CatalogMetric::WorkflowDuration => "workflow.duration",
            CatalogMetric::WorkflowRunningDuration => "workflow.running_duration",
            CatalogMetric::WorkflowCost => "workflow.cost",
            CatalogMetric::WorkflowCount => "workflow.count",
            CatalogMetric::WorkflowErrorRate => "workflow.error_rate",
            CatalogMetric::StepDuration => "step.duration",
            CatalogMetric::StepRunningDuration => "step.running_duration",
            CatalogMetric::StepErrorRate => "step.error_rate",
            CatalogMetric::LlmCallDuration => "llm.call.duration",
            CatalogMetric::LlmTokens => "llm.tokens",
            CatalogMetric::LlmPromptTokens => "llm.tokens.prompt",
            CatalogMetric::LlmCompletionTokens => "llm.tokens.completion",
            CatalogMetric::LlmCost => "llm.cost",
        }
    }

    /// Looks a metric up by the name rules use.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Every name, for error messages.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|m| m.name()).collect()
    }

    /// The unit of values.
    pub fn unit(self) -> &'static str {
        match self {
            CatalogMetric::WorkflowDuration
            | CatalogMetric::WorkflowRunningDuration
            | CatalogMetric::StepDuration
            | CatalogMetric::StepRunningDuration
            | CatalogMetric::LlmCallDuration => " s",
            CatalogMetric::WorkflowCost | CatalogMetric::LlmCost => " USD",
            CatalogMetric::LlmTokens
            | CatalogMetric::LlmPromptTokens
            | CatalogMetric::LlmCompletionTokens => " tokens",
            CatalogMetric::WorkflowCount
            | CatalogMetric::WorkflowErrorRate
            | CatalogMetric::StepErrorRate => "",
        }
    }

    /// True for metrics that describe the present and are re-read whole each time.
    pub fn is_snapshot(self) -> bool {
        matches!(
            self,
            CatalogMetric::WorkflowRunningDuration | CatalogMetric::StepRunningDuration
        )
    }

    /// The label names this metric carries (what `group_by` and `filter` may use).
    pub fn label_names(self) -> Vec<&'static str> {
        self.spec().labels.iter().map(|(n, _)| *n).collect()
    }

    fn spec(self) -> Spec {
        use CatalogMetric::*;
        match self {
            WorkflowDuration => Spec {
                from: RUNS,
                time_col: "r.completed_at",
                value: "EPOCH(r.completed_at) - EPOCH(r.started_at)",
                condition: "r.status IN ('completed', 'failed') AND r.completed_at IS NOT NULL AND r.started_at IS NOT NULL",
                labels: RUN_LABELS,
            },
            WorkflowRunningDuration => Spec {
                from: RUNS,
                time_col: "r.started_at",
                value: "NOW - EPOCH(r.started_at)",
                condition: ACTIVE_RUN,
                labels: RUN_LABELS,
            },
            WorkflowCost => Spec {
                from: RUNS,
                time_col: "r.completed_at",
                value: "(SELECT COALESCE(SUM(c.cost_usd), 0) FROM cost_records c WHERE c.run_id = r.id)",
                condition: FINISHED_RUN,
                labels: RUN_LABELS,
            },
            WorkflowCount => Spec {
                from: RUNS,
                time_col: "r.started_at",
                value: "1",
                condition: "r.started_at IS NOT NULL",
                labels: RUN_LABELS,
            },
            WorkflowErrorRate => Spec {
                from: RUNS,
                time_col: "r.completed_at",
                value: "CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END",
                condition: FINISHED_RUN,
                labels: RUN_LABELS,
            },
            StepDuration => Spec {
                from: STEPS,
                time_col: "s.completed_at",
                value: "EPOCH(s.completed_at) - EPOCH(s.started_at)",
                condition: "s.status IN ('completed', 'failed') AND s.completed_at IS NOT NULL AND s.started_at IS NOT NULL",
                labels: STEP_LABELS,
            },
            StepRunningDuration => Spec {
                from: STEPS,
                time_col: "s.started_at",
                value: "NOW - EPOCH(s.started_at)",
                condition: ACTIVE_STEP,
                labels: STEP_LABELS,
            },
            StepErrorRate => Spec {
                from: STEPS,
                time_col: "s.completed_at",
                value: "CASE WHEN s.status = 'failed' THEN 1 ELSE 0 END",
                condition: FINISHED_STEP,
                labels: STEP_LABELS,
            },
            LlmCallDuration => Spec {
                from: "execution_events e LEFT JOIN workflow_runs r ON r.id = e.run_id",
                time_col: "e.timestamp",
                value: "e.duration_ms / 1000.0",
                condition: "e.event_type = 'agent_call' AND e.duration_ms IS NOT NULL",
                labels: &[
                    ("agent", "e.agent_name"),
                    ("model", "COALESCE(JSON_MODEL(e.meta), r.model)"),
                    ("mode", "r.mode"),
                    ("status", "e.status"),
                    ("session_id", "r.session_id"),
                ],
            },
            LlmTokens => Spec {
                from: COSTS,
                time_col: "c.timestamp",
                value: "c.total_tokens",
                condition: "c.total_tokens IS NOT NULL",
                labels: COST_LABELS,
            },
            LlmPromptTokens => Spec {
                from: COSTS,
                time_col: "c.timestamp",
                value: "c.prompt_tokens",
                condition: "c.prompt_tokens IS NOT NULL",
                labels: COST_LABELS,
            },
            LlmCompletionTokens => Spec {
                from: COSTS,
                time_col: "c.timestamp",
                value: "c.completion_tokens",
                condition: "c.completion_tokens IS NOT NULL",
                labels: COST_LABELS,
            },
            LlmCost => Spec {
                from: COSTS,
                time_col: "c.timestamp",
                value: "c.cost_usd",
                condition: "c.cost_usd IS NOT NULL",
                labels: COST_LABELS,
            },
        }
    }

    /// The SQL for this metric with `filter` applied, and the values to bind to it in
    /// order: window start (windowed metrics only) and end as unix seconds, then the
    /// filter values in label-name order.
    pub fn query(self, dialect: Dialect, filter: &Labels, after: f64, until: f64) -> BoundSql {
        self.select(dialect, filter, after, until, &[])
    }

    /// The rows behind an alert on `slice`: the window's `limit` highest values of the
    /// rows whose labels equal the slice's (and pass `filter`), each with its `run_id`
    /// and `step_id` columns, bound like [`CatalogMetric::query`] and then the slice's
    /// values in label-name order.
    pub fn examples_query(
        self,
        dialect: Dialect,
        filter: &Labels,
        slice: &Labels,
        (after, until): (f64, f64),
        limit: usize,
    ) -> BoundSql {
        let spec = self.spec();
        let (run, step) = ids_of(spec.from);
        let ids: Vec<(&str, &str)> = std::iter::once(("run_id", run))
            .chain(step.map(|s| ("step_id", s)))
            .collect();
        let BoundSql { sql, mut binds } = self.select(dialect, filter, after, until, &ids);
        let mut conditions = Vec::new();
        for (name, value) in slice.iter() {
            binds.push(Bind::Text(value.to_owned()));
            conditions.push(format!("x.{name} = ${}", binds.len()));
        }
        let condition = match conditions.is_empty() {
            true => String::new(),
            false => format!(" WHERE {}", conditions.join(" AND ")),
        };
        let sql = format!("SELECT * FROM ({sql}) x{condition} ORDER BY x.value DESC LIMIT {limit}");
        BoundSql { sql, binds }
    }

    fn select(
        self,
        dialect: Dialect,
        filter: &Labels,
        after: f64,
        until: f64,
        extra: &[(&str, &str)],
    ) -> BoundSql {
        let spec = self.spec();
        let mut binds = Vec::new();
        let (ts, bounds, now) = if self.is_snapshot() {
            // A snapshot is "as of now": every active row, stamped with the window end.
            binds.push(Bind::Float(until));
            (
                dialect.float("$1"),
                dialect.until_param(spec.time_col, 1),
                "$1",
            )
        } else {
            binds.push(Bind::Float(after));
            binds.push(Bind::Float(until));
            let bounds = format!(
                "{} AND {}",
                dialect.after_param(spec.time_col, 1),
                dialect.until_param(spec.time_col, 2)
            );
            (dialect.epoch(spec.time_col), bounds, "$2")
        };
        let expand = |expr: &str| -> String {
            // A tiny macro language so one spec serves both dialects.
            let out = expand_macro(expr, "EPOCH(", |col| dialect.epoch(col));
            let out = expand_macro(&out, "JSON_MODEL(", |col| dialect.json_model(col));
            out.replace("NOW", &dialect.float(now))
        };
        let mut sql = format!(
            "SELECT {ts} AS ts, {} AS value",
            dialect.float(&expand(spec.value))
        );
        for (name, expr) in spec.labels.iter().chain(extra) {
            sql.push_str(&format!(", {} AS {name}", dialect.text(&expand(expr))));
        }
        sql.push_str(&format!(
            " FROM {} WHERE {} AND {bounds}",
            spec.from, spec.condition
        ));
        with_filter(BoundSql { sql, binds }, filter)
    }
}

/// The columns that hold a row's run and step id, by the table the metric reads.
fn ids_of(from: &str) -> (&'static str, Option<&'static str>) {
    match from.split_whitespace().next() {
        Some("workflow_runs") => ("r.id", None),
        Some("workflow_steps") => ("s.run_id", Some("s.id")),
        Some("cost_records") => ("c.run_id", Some("c.step_id")),
        _ => ("e.run_id", Some("e.step_id")),
    }
}

/// `statement` narrowed to the rows whose label columns equal `filter`'s values, bound
/// after the statement's own parameters.
/// A filter value's comparison and operand: `"!deep_research"` is every value but
/// `deep_research` (`<>`), anything else is that value (`=`).
pub fn filter_value(value: &str) -> (&'static str, &str) {
    match value.strip_prefix('!') {
        Some(rest) => ("<>", rest),
        None => ("=", value),
    }
}

/// True when `labels` pass `filter` (each label equal, or unequal for `!value`).
pub fn filter_matches(filter: &Labels, labels: &Labels) -> bool {
    filter.iter().all(|(k, v)| match filter_value(v) {
        ("<>", rest) => labels.get(k) != Some(rest),
        (_, value) => labels.get(k) == Some(value),
    })
}

pub(super) fn with_filter(statement: BoundSql, filter: &Labels) -> BoundSql {
    let BoundSql { mut sql, mut binds } = statement;
    if !filter.is_empty() {
        let mut conditions = Vec::new();
        for (name, value) in filter.iter() {
            let (op, value) = filter_value(value);
            binds.push(Bind::Text(value.to_owned()));
            conditions.push(format!("q.{name} {op} ${}", binds.len()));
        }
        sql = format!("SELECT * FROM ({sql}) q WHERE {}", conditions.join(" AND "));
    }
    BoundSql { sql, binds }
}

/// `expr` with every `MACRO(arg)` (`open` is `"MACRO("`) replaced by `expand(arg)`. The
/// specs are constants whose macros are all closed; an unclosed one would be left as
/// written (and fail as SQL) rather than panic.
fn expand_macro(expr: &str, open: &str, expand: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some((before, after)) = rest.split_once(open) {
        let Some((arg, tail)) = after.split_once(')') else {
            break;
        };
        out.push_str(before);
        out.push_str(&expand(arg));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A statement with the values to bind to `$1`, `$2`, … in order.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundSql {
    /// The statement.
    pub sql: String,
    /// The values, in parameter order.
    pub binds: Vec<Bind>,
}

/// One bound parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// A float (timestamps as unix seconds).
    Float(f64),
    /// A text value (label filters).
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bang_filter_keeps_every_other_value_in_sql_and_in_memory() {
        let f = Labels::from([("mode", "!deep_research")]);
        let sql = with_filter(
            BoundSql {
                sql: "SELECT 1".into(),
                binds: vec![],
            },
            &f,
        );
        assert!(sql.sql.ends_with("q.mode <> $1"), "{}", sql.sql);
        assert!(filter_matches(&f, &Labels::from([("mode", "one_shot")])));
        assert!(!filter_matches(
            &f,
            &Labels::from([("mode", "deep_research")])
        ));
        let eq = Labels::from([("mode", "one_shot")]);
        assert!(filter_matches(&eq, &Labels::from([("mode", "one_shot")])));
        assert!(!filter_matches(&eq, &Labels::new()));
    }

    #[test]
    fn names_round_trip() {
        for m in CatalogMetric::ALL {
            assert_eq!(CatalogMetric::from_name(m.name()), Some(m));
        }
        assert_eq!(CatalogMetric::from_name("nope"), None);
    }

    #[test]
    fn sql_expands_dialect_macros_and_numbers_binds() {
        let f = Labels::from([("model", "gpt-4o")]);
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            for m in CatalogMetric::ALL {
                let q = m.query(d, &f, 1.0, 2.0);
                assert!(!q.sql.contains("EPOCH("), "{}", q.sql);
                assert!(!q.sql.contains("JSON_MODEL"), "{}", q.sql);
                let last = format!("${}", q.binds.len());
                assert!(q.sql.contains(&last), "{}", q.sql);
                assert_eq!(q.binds.last(), Some(&Bind::Text("gpt-4o".into())));
            }
        }
    }
}
