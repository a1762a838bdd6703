//! Scores a backtest against a labelled month (`driftwatch simulate` labels): incidents
//! detected per kind, false alerts per week, median detection delay per kind.
//!
//! An alert matches an incident when it starts between the incident's start and its end
//! plus [`GRACE`]; on a slice equal to, parent of or child of the incident's (one label
//! set contains the other); and on one of the incident's metrics or a metric downstream
//! of one ([`downstream`]); an alert whose metric is unknown (custom SQL) matches on time
//! and slice alone. A false alert is an alert episode that overlaps (start to end, the
//! grace included) no incident it could match that way. A sliced rule's alert that moved
//! to another slice while firing (its fingerprint kept) is judged by each slice it named
//! over the time it named it: it detects an incident from the moment it names one of its
//! slices (if it started firing after the incident began), and is false only when no
//! slice it named matched.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::backtest::AlertSpan;
use crate::model::Labels;
use crate::simulate::labels::{Kind, LabelledIncident, LabelsFile};

/// How long after an incident's end an alert still counts for it: rows of runs the
/// incident touched land up to minutes later (a 10-minute hang ends after it).
pub const GRACE: Duration = Duration::minutes(15);

/// The metrics a change of `metric` also moves (one level; [`affected`] closes over it).
/// A duration and its running form are one quantity, read before and after the end: steps
/// that take longer have been running longer while they run, and the other way round.
pub fn downstream(metric: &str) -> &'static [&'static str] {
    match metric {
        "llm.call.duration" => &["step.duration", "step.running_duration"],
        "step.duration" | "step.running_duration" => &[
            "step.duration",
            "step.running_duration",
            "workflow.duration",
            "workflow.running_duration",
        ],
        "workflow.duration" | "workflow.running_duration" => {
            &["workflow.duration", "workflow.running_duration"]
        }
        "llm.tokens" | "llm.tokens.prompt" | "llm.tokens.completion" => &["llm.cost"],
        "llm.cost" => &["workflow.cost"],
        "step.error_rate" => &["workflow.error_rate"],
        _ => &[],
    }
}

/// The incident's metrics and everything downstream of them.
pub fn affected(metrics: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = metrics.to_vec();
    while let Some(m) = todo.pop() {
        if out.insert(m.clone()) {
            todo.extend(downstream(&m).iter().map(|s| (*s).to_owned()));
        }
    }
    out
}

/// True when one label set contains the other (equal, parent or child slices).
pub fn related(a: &Labels, b: &Labels) -> bool {
    let within = |x: &Labels, y: &Labels| x.iter().all(|(k, v)| y.get(k) == Some(v.as_str()));
    within(a, b) || within(b, a)
}

/// One alert with the metric its rule reads (None: unknown, e.g. custom SQL).
#[derive(Debug, Clone)]
pub struct ScoredAlert<'a> {
    /// The alert.
    pub span: &'a AlertSpan,
    /// Its rule's catalog metric.
    pub metric: Option<&'a str>,
}

impl ScoredAlert<'_> {
    fn metric_of(&self, metrics: &BTreeSet<String>) -> bool {
        self.metric.is_none_or(|m| metrics.contains(m))
    }

    /// Each slice the alert named, from when to when (a sliced alert may move to the
    /// slice that explains its cause better, keeping its fingerprint).
    fn homes(&self, end: DateTime<Utc>) -> Vec<(&Labels, DateTime<Utc>, DateTime<Utc>)> {
        let homes: Vec<(DateTime<Utc>, &Labels)> = self.span.homes().collect();
        let until = self.span.end.unwrap_or(end);
        (0..homes.len())
            .map(|k| {
                let to = homes.get(k + 1).map_or(until, |h| h.0);
                (homes[k].1, homes[k].0, to)
            })
            .collect()
    }

    /// When the alert first named a slice of the incident while it lasted (None: never).
    fn detected_at(
        &self,
        i: &LabelledIncident,
        metrics: &BTreeSet<String>,
        end: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if !self.metric_of(metrics) || self.span.start < i.start {
            return None;
        }
        self.homes(end)
            .into_iter()
            .find(|(l, from, _)| related(l, &i.labels) && *from <= i.end + GRACE)
            .map(|(_, from, _)| from)
    }

    /// True when, while it named a slice of the incident, the two overlapped in time.
    fn matches(
        &self,
        i: &LabelledIncident,
        metrics: &BTreeSet<String>,
        end: DateTime<Utc>,
    ) -> bool {
        self.metric_of(metrics)
            && self.homes(end).into_iter().any(|(l, from, to)| {
                related(l, &i.labels) && from <= i.end + GRACE && to >= i.start
            })
    }

    fn overlaps(&self, i: &LabelledIncident, end: DateTime<Utc>) -> bool {
        self.span.start <= i.end + GRACE && self.span.end.unwrap_or(end) >= i.start
    }
}

/// How one incident was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentResult {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Seconds from its `delay_from` to the first matching alert (0 when earlier; None:
    /// missed).
    pub delay_seconds: Option<f64>,
    /// The rules whose alerts matched it.
    pub rules: Vec<String>,
}

/// One kind's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindResult {
    /// The kind.
    pub kind: Kind,
    /// Incidents of that kind.
    pub incidents: usize,
    /// Of which detected.
    pub detected: usize,
    /// Median delay of the detected ones, seconds.
    pub median_delay_seconds: Option<f64>,
}

/// One false alert, short.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FalseAlert {
    /// The rule.
    pub rule: String,
    /// The slice.
    pub labels: Labels,
    /// When it fired.
    pub start: DateTime<Utc>,
    /// True when it overlapped an incident in time (but not on its slice or metric).
    pub during_incident: bool,
}

/// The scores of a backtest against a labels file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// [`GRACE`] in seconds.
    pub grace_seconds: i64,
    /// Weeks of the backtest's range.
    pub weeks: f64,
    /// Per incident.
    pub incidents: Vec<IncidentResult>,
    /// Per kind, in [`Kind::ALL`] order (kinds without incidents left out).
    pub kinds: Vec<KindResult>,
    /// Alert episodes considered.
    pub alerts: usize,
    /// Alert episodes that overlap no incident they could match.
    pub false_alerts: usize,
    /// false_alerts / weeks.
    pub false_alerts_per_week: f64,
    /// False alerts on a slice of something labelled as not an incident (the new model).
    pub not_incident_alerts: usize,
    /// False alerts per rule.
    pub false_by_rule: BTreeMap<String, usize>,
    /// Every false alert.
    pub false_alert_list: Vec<FalseAlert>,
}

/// Scores `alerts` of a backtest over `[from, to]` against `labels`.
pub fn score_labelled(
    alerts: &[ScoredAlert<'_>],
    labels: &LabelsFile,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Detection {
    let metrics: Vec<BTreeSet<String>> = labels
        .incidents
        .iter()
        .map(|i| affected(&i.metrics))
        .collect();
    let incidents: Vec<IncidentResult> = labels
        .incidents
        .iter()
        .zip(&metrics)
        .map(|(i, m)| incident_result(alerts, i, m, to))
        .collect();
    let false_list: Vec<FalseAlert> = alerts
        .iter()
        .filter(|a| {
            !labels
                .incidents
                .iter()
                .zip(&metrics)
                .any(|(i, m)| a.matches(i, m, to))
        })
        .map(|a| FalseAlert {
            rule: a.span.rule.clone(),
            labels: a.span.labels.clone(),
            start: a.span.start,
            during_incident: labels.incidents.iter().any(|i| a.overlaps(i, to)),
        })
        .collect();
    let not_incident_alerts = false_list
        .iter()
        .filter(|f| {
            labels.not_incidents.iter().any(|n| {
                n.labels
                    .iter()
                    .all(|(k, v)| f.labels.get(k) == Some(v.as_str()))
            })
        })
        .count();
    let mut false_by_rule = BTreeMap::new();
    for f in &false_list {
        *false_by_rule.entry(f.rule.clone()).or_insert(0) += 1;
    }
    let weeks = ((to - from).num_seconds() as f64 / (7.0 * 86_400.0)).max(1e-9);
    Detection {
        grace_seconds: GRACE.num_seconds(),
        weeks,
        kinds: kinds(&incidents),
        incidents,
        alerts: alerts.len(),
        false_alerts: false_list.len(),
        false_alerts_per_week: false_list.len() as f64 / weeks,
        not_incident_alerts,
        false_by_rule,
        false_alert_list: false_list,
    }
}

fn incident_result(
    alerts: &[ScoredAlert<'_>],
    i: &LabelledIncident,
    metrics: &BTreeSet<String>,
    end: DateTime<Utc>,
) -> IncidentResult {
    let hits: Vec<(&ScoredAlert<'_>, DateTime<Utc>)> = alerts
        .iter()
        .filter_map(|a| Some((a, a.detected_at(i, metrics, end)?)))
        .collect();
    let first = hits.iter().map(|(_, t)| *t).min();
    let rules: BTreeSet<String> = hits.iter().map(|(a, _)| a.span.rule.clone()).collect();
    IncidentResult {
        name: i.name.clone(),
        kind: i.kind,
        delay_seconds: first
            .map(|t| ((t - i.delay_from).num_milliseconds() as f64 / 1000.0).max(0.0)),
        rules: rules.into_iter().collect(),
    }
}

/// The median of some numbers (None when empty).
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn kinds(results: &[IncidentResult]) -> Vec<KindResult> {
    Kind::ALL
        .iter()
        .filter_map(|&kind| {
            let of: Vec<&IncidentResult> = results.iter().filter(|r| r.kind == kind).collect();
            (!of.is_empty()).then(|| {
                let delays: Vec<f64> = of.iter().filter_map(|r| r.delay_seconds).collect();
                KindResult {
                    kind,
                    incidents: of.len(),
                    detected: delays.len(),
                    median_delay_seconds: median(delays),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(m * 60, 0).unwrap()
    }

    fn span(rule: &str, labels: Labels, start: i64, end: i64) -> AlertSpan {
        AlertSpan {
            rule: rule.into(),
            fingerprint: crate::model::fingerprint(rule, &labels),
            labels,
            start: t(start),
            end: Some(t(end)),
            peak: 1.0,
            reason: String::new(),
            summary: String::new(),
            moves: Vec::new(),
        }
    }

    fn incident(
        kind: Kind,
        labels: Labels,
        metric: &str,
        start: i64,
        end: i64,
        from: i64,
    ) -> LabelledIncident {
        LabelledIncident {
            name: format!("{kind:?}"),
            kind,
            labels,
            metrics: vec![metric.to_owned()],
            start: t(start),
            end: t(end),
            delay_from: t(from),
            magnitude: 1.0,
            detail: String::new(),
            affected_runs: 1,
        }
    }

    fn file(incidents: Vec<LabelledIncident>) -> LabelsFile {
        LabelsFile {
            version: 2,
            seed: 0,
            start: t(0),
            end: t(7 * 1440),
            volumes: Default::default(),
            incidents,
            not_incidents: vec![crate::simulate::labels::NotIncident {
                name: "new".into(),
                kind: "new_model".into(),
                labels: Labels::from([("model", "o1")]),
                start: t(0),
                end: t(7 * 1440),
                detail: String::new(),
            }],
            skipped: vec![],
        }
    }

    #[test]
    fn slices_metrics_downstream_grace_false_alerts_and_drift_delay() {
        let gpt = Labels::from([("model", "gpt-4o")]);
        let labels = file(vec![
            incident(
                Kind::LatencySpike,
                gpt.clone(),
                "llm.call.duration",
                100,
                160,
                100,
            ),
            incident(
                Kind::FailureBurst,
                Labels::new(),
                "workflow.error_rate",
                1000,
                1060,
                1000,
            ),
            incident(Kind::Drift, gpt.clone(), "llm.tokens", 2000, 8000, 5000),
            incident(
                Kind::HungSteps,
                Labels::from([("agent", "planner")]),
                "step.duration",
                9000,
                9100,
                9000,
            ),
        ]);
        let spans = [
            // A child slice (model and mode) on a downstream metric, 7 minutes in.
            span(
                "wf",
                Labels::from([("model", "gpt-4o"), ("mode", "a")]),
                107,
                130,
            ),
            // The parent (global) slice on the direct metric, later.
            span("llm", Labels::new(), 110, 120),
            // A sibling slice while the spike lasts: false, during an incident.
            span("llm", Labels::from([("model", "gemini")]), 105, 120),
            // A parent slice of the failure burst's: no, the burst is global; a child counts.
            span("err", Labels::from([("mode", "a")]), 1070, 1080),
            // Right slice, unrelated metric: false.
            span("cost", Labels::new(), 1010, 1020),
            // Drift: fired before it reached +25 % → delay 0; and one on the new model.
            span("tok", gpt.clone(), 4000, 4100),
            span("slow", Labels::from([("model", "o1")]), 300, 400),
            // After the hang's end plus grace: missed, and false.
            span("step", Labels::from([("agent", "planner")]), 9120, 9130),
        ];
        let metric = |rule: &str| match rule {
            "wf" => "workflow.duration",
            "llm" | "slow" => "llm.call.duration",
            "err" => "workflow.error_rate",
            "cost" => "workflow.cost",
            "tok" => "llm.cost",
            _ => "step.duration",
        };
        let alerts: Vec<ScoredAlert> = spans
            .iter()
            .map(|s| ScoredAlert {
                span: s,
                metric: Some(metric(&s.rule)),
            })
            .collect();
        let d = score_labelled(&alerts, &labels, t(0), t(14 * 1440));
        let delays: Vec<Option<f64>> = d.incidents.iter().map(|i| i.delay_seconds).collect();
        assert_eq!(delays, vec![Some(420.0), Some(4200.0), Some(0.0), None]);
        assert_eq!(
            d.incidents[0].rules,
            vec!["llm".to_owned(), "wf".to_owned()]
        );
        assert_eq!(d.false_alerts, 4, "{:?}", d.false_alert_list);
        assert!((d.false_alerts_per_week - 2.0).abs() < 1e-9);
        assert_eq!(d.not_incident_alerts, 1);
        let during: Vec<bool> = d
            .false_alert_list
            .iter()
            .map(|f| f.during_incident)
            .collect();
        assert_eq!(during, vec![true, true, false, false]);
        let k = &d.kinds[0];
        assert_eq!(
            (k.kind, k.incidents, k.detected, k.median_delay_seconds),
            (Kind::LatencySpike, 1, 1, Some(420.0))
        );
        assert_eq!(
            d.kinds
                .iter()
                .find(|k| k.kind == Kind::HungSteps)
                .unwrap()
                .detected,
            0
        );
    }

    #[test]
    fn downstream_closes_over_chains() {
        let a = affected(&["llm.call.duration".to_owned()]);
        assert!(a.contains("workflow.duration") && a.contains("step.duration"));
        assert!(!a.contains("workflow.cost"));
        let slow = affected(&["step.duration".to_owned()]);
        assert!(
            slow.contains("step.running_duration") && slow.contains("workflow.running_duration")
        );
        assert!(!affected(&["workflow.duration".to_owned()]).contains("step.duration"));
        assert!(affected(&["llm.tokens".to_owned()]).contains("workflow.cost"));
        assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }

    #[test]
    fn an_alert_that_moves_to_the_incidents_slice_detects_it_from_the_move_and_is_not_false() {
        let one_shot = Labels::from([("mode", "one_shot")]);
        let labels = file(vec![incident(
            Kind::CostJump,
            one_shot.clone(),
            "llm.cost",
            100,
            300,
            100,
        )]);
        // Fired on a sibling slice (the first expensive run was agent a's), moved to the
        // incident's slice 20 minutes later, then to another sibling.
        let mut moved = span("cost", Labels::from([("agent", "a")]), 105, 200);
        moved.moves = vec![
            (t(125), one_shot.clone()),
            (t(150), Labels::from([("agent", "b")])),
        ];
        // Never on the incident's slice: false, and no detection.
        let mut stray = span("cost", Labels::from([("agent", "a")]), 105, 200);
        stray.moves = vec![(t(125), Labels::from([("agent", "b")]))];
        let score = |s: &AlertSpan| {
            let alerts = [ScoredAlert {
                span: s,
                metric: Some("llm.cost"),
            }];
            score_labelled(&alerts, &labels, t(0), t(7 * 1440))
        };
        let d = score(&moved);
        assert_eq!(d.incidents[0].delay_seconds, Some(1500.0));
        assert_eq!(d.false_alerts, 0, "{:?}", d.false_alert_list);
        let d = score(&stray);
        assert_eq!(d.incidents[0].delay_seconds, None);
        assert_eq!(d.false_alerts, 1);
    }
}
