//! One rule's runtime state and its evaluation: window → groups → detectors → alerts.
//! Pure: it takes fetched observations and returns what changed; it does no I/O.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::detect::{Detector, Verdict};
use crate::engine::aggregate::aggregate;
use crate::engine::alert::{Alert, Judgement, Timing, Transition};
use crate::engine::persist::{persist_absent, persist_if_due, Persist};
use crate::engine::summary::{render_summary, SummaryInputs};
use crate::engine::window::{FastMap, WindowBuffer};
use crate::model::{fingerprint, AlertState, Labels};
use crate::rule::spec::{Aggregate, NoDataPolicy};
use crate::rule::Rule;
use crate::sources::Observation;
use crate::types::Fingerprint;

/// How long a quiet, inactive group is remembered (with its baseline) after its last data.
const FORGET_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// A group's alert and detector.
pub struct GroupRuntime {
    /// The alert instance.
    pub alert: Alert,
    /// The detector with its baseline.
    pub detector: Box<dyn Detector>,
    /// When the group last had data.
    pub last_seen: DateTime<Utc>,
    /// The evaluation (counted per runtime) that last judged it.
    pub(super) seen_in: u64,
    /// When its baseline is next written.
    pub(super) persist: Persist,
}

/// A baseline to persist: (fingerprint, detector snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineSnapshot {
    /// The group's fingerprint.
    pub fingerprint: Fingerprint,
    /// The detector's state, as JSON text ([`Detector::snapshot_text`]).
    pub state: String,
}

/// What a detector saw for one group at one evaluation (for plots and backtests).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The group's fingerprint.
    pub fingerprint: Fingerprint,
    /// The aggregated value.
    pub value: f64,
    /// The baseline centre or threshold.
    pub expected: Option<f64>,
    /// The normal band.
    pub band: Option<(f64, f64)>,
    /// Anomaly score.
    pub score: f64,
    /// Whether the detector called it anomalous.
    pub anomalous: bool,
}

/// What one evaluation changed.
#[derive(Debug, Default)]
pub struct EvaluationOutcome {
    /// Every judged value, in group order.
    pub points: Vec<Point>,
    /// State changes, in group order.
    pub transitions: Vec<Transition>,
    /// Alerts pending, firing, or changed by this evaluation, with their new state.
    pub alerts: Vec<Alert>,
    /// Whole detector states to persist.
    pub baselines: Vec<BaselineSnapshot>,
    /// The other due baselines' deltas, packed as one journal record
    /// ([`crate::engine::journal`]); empty when there are none.
    pub journal: Vec<u8>,
    /// Fingerprints forgotten (inactive and quiet for long).
    pub forgotten: Vec<Fingerprint>,
    /// Series (groups) seen this time.
    pub series: usize,
    /// Series dropped by the `max_series` limit.
    pub dropped_series: usize,
    /// Observations in the window.
    pub observations: usize,
    /// The rule's groups by alert state after this evaluation, at
    /// [`AlertState::index`]: counted as each group is judged or found absent, so the
    /// metric needs no second walk over every group (a cache miss each).
    pub alert_states: [i64; 4],
}

/// A rule and everything the engine remembers about it between evaluations.
pub struct RuleRuntime {
    /// The rule.
    pub rule: Arc<Rule>,
    /// The window cache.
    pub window: WindowBuffer,
    /// Groups by fingerprint.
    pub groups: FastMap<Fingerprint, Box<GroupRuntime>>,
    /// Stored baselines of groups not seen since the restart: applied when they return,
    /// so a restart does not mean relearning.
    pub(super) stored: HashMap<String, serde_json::Value>,
    /// Report every judged value in `EvaluationOutcome::points` (backtest plots).
    pub collect_points: bool,
    /// Report detector snapshots for persistence (the live service; not replays).
    pub collect_baselines: bool,
    /// Evaluations so far (a group judged in this one has `seen_in == evaluations`).
    pub(super) evaluations: u64,
    /// Fingerprints of a sliced rule's slices, computed once per label set.
    pub(super) slice_fingerprints: HashMap<Labels, Fingerprint>,
    /// Whole baselines to write at the next evaluation: stored ones a restore brought
    /// up to date from the journal, so the journal can be pruned past them.
    pub(super) pending_baselines: Vec<BaselineSnapshot>,
}

impl RuleRuntime {
    /// A runtime with no history.
    pub fn new(rule: Arc<Rule>) -> Self {
        let group_by = rule
            .group_by
            .iter()
            .map(|l| l.as_str().to_owned())
            .collect();
        Self {
            rule,
            window: WindowBuffer::new(group_by),
            groups: FastMap::default(),
            stored: HashMap::new(),
            collect_points: false,
            collect_baselines: true,
            evaluations: 0,
            pending_baselines: Vec::new(),
            slice_fingerprints: HashMap::new(),
        }
    }

    /// Restores alert states and this rule's baselines written by an earlier process.
    pub fn restore(&mut self, alerts: Vec<Alert>, baselines: HashMap<String, serde_json::Value>) {
        // Baselines are stored for quiet groups too, whose alerts are not: keep them for
        // when those groups show up again.
        self.stored = baselines;
        for alert in alerts {
            let mut detector = self.rule.detector.build();
            if let Some(state) = self.stored.remove(alert.fingerprint.as_str()) {
                if let Err(e) = detector.restore(&state) {
                    tracing::warn!(rule = %self.rule.name, fingerprint = %alert.fingerprint, error = %e, "baseline not restored; relearning");
                }
            }
            let last_seen = alert.evaluated_at;
            self.groups.insert(
                alert.fingerprint.clone(),
                Box::new(GroupRuntime {
                    alert,
                    detector,
                    last_seen,
                    seen_in: 0,
                    persist: Persist::default(),
                }),
            );
        }
    }

    /// After a warm-up replay: what history taught the detectors stays, but no alert is
    /// left pending or firing from the past.
    pub fn forget_alert_states(&mut self) {
        for g in self.groups.values_mut() {
            let a = &mut g.alert;
            a.state = AlertState::Inactive;
            a.active_since = None;
            a.fired_at = None;
            a.last_breach_at = None;
        }
    }

    /// The window `(start, end]` for an evaluation at `now`.
    pub fn window_at(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let end = crate::time_math::earlier(now, self.rule.delay);
        let start = crate::time_math::earlier(end, self.rule.window);
        (start, end)
    }

    fn new_alert(&self, group: &Labels, now: DateTime<Utc>) -> Alert {
        let rule = &self.rule;
        Alert::new(&rule.name, group.clone(), &rule.labels, rule.severity, now)
    }

    /// Evaluates the rule at `now` over the observations now in the window.
    pub fn evaluate(&mut self, now: DateTime<Utc>) -> EvaluationOutcome {
        let rule = Arc::clone(&self.rule);
        let timing = Timing {
            for_duration: rule.for_duration,
            keep_firing_for: rule.keep_firing_for,
        };
        let out = EvaluationOutcome {
            observations: self.window.len(),
            ..Default::default()
        };
        let out = if rule.slices.is_empty() {
            self.evaluate_grouped(now, timing, out)
        } else {
            self.evaluate_sliced(now, timing, out)
        };
        debug_assert_eq!(out.alert_states, self.alert_states_by_walk());
        out
    }

    /// The groups by alert state, counted by visiting every one.
    pub fn alert_states_by_walk(&self) -> [i64; 4] {
        let mut counts = [0; 4];
        for g in self.groups.values() {
            counts[g.alert.state.index()] += 1;
        }
        counts
    }

    /// Evaluates a rule judged by its `group_by` groups only.
    fn evaluate_grouped(
        &mut self,
        now: DateTime<Utc>,
        timing: Timing,
        mut out: EvaluationOutcome,
    ) -> EvaluationOutcome {
        let rule = Arc::clone(&self.rule);
        let mut grouped = self.window.take_grouped();
        if grouped.spans.len() > rule.max_series {
            out.dropped_series = grouped.spans.len() - rule.max_series;
            grouped.spans.truncate(rule.max_series);
        }
        out.series = grouped.spans.len();
        let window_secs = rule.window.as_secs_f64();
        let now_ms = now.timestamp_millis();
        self.evaluations += 1;
        let this = self.evaluations;
        let mut judged = 0;
        let ctx = EvalCtx {
            rule: Arc::clone(&rule),
            now,
            timing,
            collect_points: self.collect_points,
            collect_baselines: self.collect_baselines,
        };
        for span in &grouped.spans {
            let values = &mut grouped.values[span.start..span.end];
            let Some((value, counts)) = judged_value(&rule, values, window_secs) else {
                continue;
            };
            let fp = self
                .window
                .fingerprint(span.id, |labels| fingerprint(&rule.name, labels));
            if !self.groups.contains_key(fp) {
                let fp = fp.clone();
                let labels = self.window.labels(span.id).clone();
                let group = new_group(&rule, &mut self.stored, &fp, labels, now);
                self.groups.insert(fp, group);
            }
            let fp = self
                .window
                .fingerprint(span.id, |labels| fingerprint(&rule.name, labels));
            let runtime = self.groups.get_mut(fp).expect("inserted above");
            runtime.seen_in = this;
            judged += 1;
            let verdict = judge(runtime, now_ms, values, value, counts);
            conclude(&ctx, fp, runtime, value, verdict, &mut out);
        }
        self.window.give_back(grouped);
        self.apply_no_data(now, timing, judged, &mut out);
        out
    }

    /// Groups without data this time follow the rule's no-data policy.
    pub(super) fn apply_no_data(
        &mut self,
        now: DateTime<Utc>,
        timing: Timing,
        judged: usize,
        out: &mut EvaluationOutcome,
    ) {
        let rule = Arc::clone(&self.rule);
        if rule.no_data == NoDataPolicy::Alerting && self.groups.is_empty() && judged == 0 {
            let empty = Labels::new();
            let alert = self.new_alert(&empty, now);
            self.groups.insert(
                alert.fingerprint.clone(),
                Box::new(GroupRuntime {
                    alert,
                    detector: rule.detector.build(),
                    last_seen: now,
                    seen_in: 0,
                    persist: Persist::default(),
                }),
            );
        }
        let mut forget = Vec::new();
        // Each judged group is a different one, so when as many were judged as exist
        // (the common case) none is absent, and the scan, a cache miss per group, is
        // skipped.
        let mut absent: Vec<&Fingerprint> = if judged == self.groups.len() {
            Vec::new()
        } else {
            self.groups
                .iter()
                .filter(|(_, g)| g.seen_in != self.evaluations)
                .map(|(fp, _)| fp)
                .collect()
        };
        absent.sort();
        let absent: Vec<Fingerprint> = absent.into_iter().cloned().collect();
        for fp in absent {
            let runtime = self.groups.get_mut(&fp).expect("listed above");
            let breach = match rule.no_data {
                NoDataPolicy::Keep => None,
                NoDataPolicy::Ok => Some(false),
                NoDataPolicy::Alerting => Some(true),
            };
            if let Some(breach) = breach {
                let reason: std::borrow::Cow<'static, str> = "has no data in the window".into();
                let summary = render_summary(
                    &rule,
                    SummaryInputs {
                        value: None,
                        threshold: runtime.alert.threshold,
                        reason: &reason,
                        group: &runtime.alert.group,
                    },
                );
                let judgement = Judgement {
                    breach,
                    value: None,
                    threshold: None,
                    score: if breach { 1.0 } else { 0.0 },
                    summary,
                    reason,
                };
                if let Some(t) = runtime.alert.apply(&judgement, now, timing) {
                    out.transitions.push(t);
                }
                out.alerts.push(runtime.alert.clone());
            }
            if self.collect_baselines {
                persist_absent(&fp, runtime, now, out);
            }
            out.alert_states[runtime.alert.state.index()] += 1;
            let quiet = matches!(
                runtime.alert.state,
                AlertState::Inactive | AlertState::Resolved
            );
            if quiet && now - runtime.last_seen > FORGET_AFTER {
                forget.push(fp);
            }
        }
        for fp in forget {
            if let Some(gone) = self.groups.remove(&fp) {
                out.alert_states[gone.alert.state.index()] -= 1;
            }
            out.forgotten.push(fp);
        }
        if self.collect_baselines {
            out.baselines.append(&mut self.pending_baselines);
        }
    }

    /// Feeds fetched rows for `(after, until]` into the window cache.
    pub fn ingest(
        &mut self,
        fetched: Vec<Observation>,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        snapshot: bool,
    ) {
        if snapshot {
            self.window.replace(fetched);
        } else {
            let (start, _) = self.window_at_end(until);
            self.window.extend(fetched, after, until, start);
        }
    }

    fn window_at_end(&self, end: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = crate::time_math::earlier(end, self.rule.window);
        (start, end)
    }
}

/// What one evaluation judges with, shared by every series.
pub(super) struct EvalCtx {
    pub rule: Arc<Rule>,
    pub now: DateTime<Utc>,
    pub timing: Timing,
    pub collect_points: bool,
    pub collect_baselines: bool,
}

/// A series' aggregated value and, for a ratio, its parts; None when it has too few
/// samples (`min_samples`) or none to aggregate.
pub(super) fn judged_value(
    rule: &Rule,
    values: &mut [f64],
    window_secs: f64,
) -> Option<(f64, Option<(f64, f64)>)> {
    if values.len() < rule.min_samples {
        return None;
    }
    let counts = ratio_counts(rule, values);
    aggregate(rule.aggregate, values, window_secs).map(|value| (value, counts))
}

/// A ratio's parts, for detectors that judge counts (the binomial test).
fn ratio_counts(rule: &Rule, values: &[f64]) -> Option<(f64, f64)> {
    (rule.aggregate == Aggregate::Ratio).then(|| {
        let events = values.iter().filter(|v| **v != 0.0).count();
        (events as f64, values.len() as f64)
    })
}

/// A new series' runtime: a fresh alert and a detector with its stored baseline, if any.
pub(super) fn new_group(
    rule: &Rule,
    stored: &mut HashMap<String, serde_json::Value>,
    fp: &str,
    labels: Labels,
    now: DateTime<Utc>,
) -> Box<GroupRuntime> {
    let alert = Alert::new(&rule.name, labels, &rule.labels, rule.severity, now);
    let mut detector = rule.detector.build();
    if let Some(state) = stored.remove(fp) {
        if let Err(e) = detector.restore(&state) {
            tracing::warn!(rule = %rule.name, fingerprint = %fp, error = %e, "baseline not restored; relearning");
        }
    }
    Box::new(GroupRuntime {
        alert,
        detector,
        last_seen: now,
        seen_in: 0,
        persist: Persist::default(),
    })
}

/// The detector's verdict on one series' window.
pub(super) fn judge(
    runtime: &mut GroupRuntime,
    now_ms: i64,
    values: &[f64],
    value: f64,
    counts: Option<(f64, f64)>,
) -> Verdict {
    let verdict = match counts {
        Some((events, trials)) => runtime.detector.observe_counts(now_ms, events, trials),
        None => runtime.detector.observe_values(now_ms, values, value),
    };
    explained(runtime, verdict)
}

/// The verdict with its normal reason in full where it will be shown: a firing alert
/// that may resolve says what the value is now (elsewhere the short reason serves).
pub(super) fn explained(runtime: &GroupRuntime, mut verdict: Verdict) -> Verdict {
    if !verdict.anomalous && runtime.alert.state == AlertState::Firing {
        if let Some(full) = runtime.detector.describe_normal() {
            verdict.reason = full.into();
        }
    }
    verdict
}

/// Turns one series' verdict into its alert's judgement, transition and baseline write.
pub(super) fn conclude(
    ctx: &EvalCtx,
    fp: &Fingerprint,
    runtime: &mut GroupRuntime,
    value: f64,
    verdict: Verdict,
    out: &mut EvaluationOutcome,
) {
    let (rule, now) = (&ctx.rule, ctx.now);
    runtime.last_seen = now;
    if ctx.collect_points {
        out.points.push(Point {
            fingerprint: fp.clone(),
            value,
            expected: verdict.expected,
            band: verdict.band,
            score: verdict.score,
            anomalous: verdict.anomalous,
        });
    }
    // The summary is read while breaching, and when a firing alert may resolve (its
    // resolve says what the value is now): render it only then.
    let summary = if verdict.anomalous || runtime.alert.state == AlertState::Firing {
        render_summary(
            rule,
            SummaryInputs {
                value: Some(value),
                threshold: verdict.expected,
                reason: &verdict.reason,
                group: &runtime.alert.group,
            },
        )
    } else {
        String::new()
    };
    let judgement = Judgement {
        breach: verdict.anomalous,
        value: Some(value),
        threshold: verdict.expected,
        score: verdict.score,
        summary,
        reason: verdict.reason,
    };
    let transition = runtime.alert.apply(&judgement, now, ctx.timing);
    out.alert_states[runtime.alert.state.index()] += 1;
    let active = matches!(
        runtime.alert.state,
        AlertState::Pending | AlertState::Firing
    );
    if active || transition.is_some() {
        out.alerts.push(runtime.alert.clone());
    }
    let transitioned = transition.is_some();
    out.transitions.extend(transition);
    if ctx.collect_baselines {
        persist_if_due(fp, runtime, now, transitioned, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;
    use crate::rule::{parse_rules, RuleContext};
    use crate::types::SourceFile;

    /// The one rule of a rule file's text, against a context with one source "s".
    fn one_rule(text: &str) -> Arc<Rule> {
        let ctx = RuleContext {
            sources: vec!["s".into()],
            source_kinds: Default::default(),
            receivers: vec![],
            default_receivers: vec![],
        };
        let set = parse_rules(&[SourceFile::new("t.toml", text)], &ctx).unwrap();
        Arc::clone(&set.rules[0])
    }

    fn rule(extra: &str) -> Arc<Rule> {
        let window = if extra.contains("window") {
            ""
        } else {
            "window = \"10m\"\n"
        };
        let text = format!(
            "[[rule]]\nname = \"r\"\nmetric = \"workflow.duration\"\n\
             detector = {{ kind = \"threshold\", above = 10 }}\n\
             {window}severity = \"warning\"\n{extra}"
        );
        one_rule(&text)
    }

    fn obs(mode: &str, secs: i64, value: f64) -> Observation {
        Observation {
            labels: Labels::from([("mode", mode)]).into(),
            sample: Sample {
                ts: DateTime::from_timestamp(secs, 0).unwrap(),
                value,
            },
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn feed(rt: &mut RuleRuntime, now: i64, rows: Vec<Observation>) -> EvaluationOutcome {
        let (start, end) = rt.window_at(at(now));
        let (after, until) = rt.window.fetch_range(start, end);
        rt.ingest(rows, after, until, false);
        rt.evaluate(at(now))
    }

    #[test]
    fn one_alert_per_group_and_min_samples() {
        let mut rt = RuleRuntime::new(rule(
            "group_by = [\"mode\"]\nmin_samples = 2\naggregate = \"max\"",
        ));
        let out = feed(
            &mut rt,
            1000,
            vec![obs("a", 990, 50.0), obs("a", 995, 1.0), obs("b", 995, 50.0)],
        );
        assert_eq!(out.series, 2);
        let firing: Vec<_> = out.transitions.iter().filter(|t| t.notifies()).collect();
        assert_eq!(firing.len(), 1, "group b has one sample, below min_samples");
        assert_eq!(firing[0].alert.group, Labels::from([("mode", "a")]));
        assert!(
            firing[0].alert.summary.contains("50"),
            "{}",
            firing[0].alert.summary
        );
    }

    #[test]
    fn no_data_policies() {
        for (policy, expect) in [
            ("ok", AlertState::Resolved),
            ("keep", AlertState::Firing),
            ("alerting", AlertState::Firing),
        ] {
            let mut rt =
                RuleRuntime::new(rule(&format!("no_data = \"{policy}\"\nwindow = \"1m\"")));
            feed(&mut rt, 1000, vec![obs("a", 990, 50.0)]);
            // Two minutes later the sample has left the window: no data.
            let out = feed(&mut rt, 1120, vec![]);
            let alert = rt.groups.values().next().unwrap().alert.clone();
            assert_eq!(
                alert.state, expect,
                "policy {policy}: {:?}",
                out.transitions
            );
        }
        let mut rt = RuleRuntime::new(rule("no_data = \"alerting\""));
        let out = feed(&mut rt, 1000, vec![]);
        assert!(
            out.transitions.iter().any(|t| t.notifies()),
            "a rule with no data at all alerts"
        );
    }

    #[test]
    fn series_limit_drops_and_counts() {
        let mut rt = RuleRuntime::new(rule("group_by = [\"mode\"]\nmax_series = 2"));
        let rows = (0..5).map(|i| obs(&format!("m{i}"), 990, 1.0)).collect();
        let out = feed(&mut rt, 1000, rows);
        assert_eq!((out.series, out.dropped_series), (2, 3));
        assert_eq!(rt.groups.len(), 2);
    }

    #[test]
    fn incremental_window_keeps_earlier_rows() {
        let mut rt = RuleRuntime::new(rule("aggregate = \"count\"\nwindow = \"100s\""));
        let value = |rt: &RuleRuntime| rt.groups.values().next().unwrap().alert.value;
        feed(&mut rt, 1000, vec![obs("a", 950, 1.0)]);
        feed(&mut rt, 1010, vec![obs("a", 1005, 1.0)]);
        assert_eq!(value(&rt), Some(2.0), "the cached row still counts");
        feed(&mut rt, 1060, vec![]);
        assert_eq!(value(&rt), Some(1.0), "the row at 950 left the window");
    }

    fn zscore_rule(relearn_after: u32) -> Arc<Rule> {
        let text = format!(
            "[[rule]]\nname = \"z\"\nmetric = \"workflow.duration\"\naggregate = \"last\"\n\
             detector = {{ kind = \"zscore\", window = \"1h\", direction = \"up\", relearn_after = {relearn_after} }}\n\
             summary = \"took {{value}} {{reason}}\"\n\
             window = \"1m\"\nseverity = \"warning\"\n"
        );
        one_rule(&text)
    }

    /// Feeds one value a minute (normal noise around 10 unless `level` says otherwise)
    /// and returns every transition with the minute it happened.
    fn run_minutes(
        rt: &mut RuleRuntime,
        minutes: std::ops::Range<i64>,
        level: impl Fn(i64) -> f64,
    ) -> Vec<(i64, Transition)> {
        let mut out = Vec::new();
        for m in minutes {
            let noise = ((m as f64) * 1.7).sin() + 0.5 * ((m as f64) * 0.31).cos();
            let row = Observation {
                labels: Labels::new().into(),
                sample: Sample {
                    ts: at(m * 60),
                    value: level(m) + noise,
                },
            };
            let outcome = feed(rt, m * 60, vec![row]);
            out.extend(outcome.transitions.into_iter().map(|t| (m, t)));
        }
        out
    }

    #[test]
    fn a_resolve_says_the_value_is_back_in_band_with_the_current_value() {
        let mut rt = RuleRuntime::new(zscore_rule(1000));
        let spike = |m: i64| if (300..306).contains(&m) { 40.0 } else { 10.0 };
        let changes = run_minutes(&mut rt, 0..330, spike);
        let fired = changes
            .iter()
            .find(|(_, t)| t.alert.state == AlertState::Firing)
            .expect("the spike fires");
        let resolved = changes
            .iter()
            .find(|(_, t)| t.alert.state == AlertState::Resolved)
            .expect("the spike resolves");
        assert!((300..306).contains(&fired.0), "fired at minute {}", fired.0);
        assert_eq!(resolved.0, 306, "resolves as soon as the value is back");
        let summary = &resolved.1.alert.summary;
        let value = resolved.1.alert.value.unwrap();
        assert!(value < 15.0);
        assert!(
            summary.contains(&crate::detect::threshold::fmt_num(value)),
            "{summary}"
        );
        assert!(summary.contains("is within its baseline"), "{summary}");
        assert_ne!(summary, &fired.1.alert.summary);
    }

    #[test]
    fn a_count_test_resolve_gives_its_counts_though_normal_verdicts_are_worded_short() {
        let mut rt = RuleRuntime::new(one_rule(
            "[[rule]]\nname = \"b\"\nmetric = \"workflow.error_rate\"\naggregate = \"ratio\"\n\
             detector = { kind = \"binomial\", p_value = 1e-3 }\n\
             summary = \"{value} {reason}\"\n\
             window = \"10m\"\nseverity = \"warning\"\n",
        ));
        let burst = 600..606;
        let mut changes = Vec::new();
        for m in 0..640 {
            // Five runs a minute; one in a hundred fails, all of them in the burst.
            let rows = (0..5)
                .map(|i| Observation {
                    labels: Labels::new().into(),
                    sample: Sample {
                        ts: at(m * 60 + i),
                        value: f64::from(burst.contains(&m) || (m * 5 + i) % 100 == 0),
                    },
                })
                .collect();
            let out = feed(&mut rt, m * 60 + 30, rows);
            changes.extend(out.transitions);
        }
        let resolved = changes
            .iter()
            .find(|t| t.alert.state == AlertState::Resolved)
            .expect("the burst fires and resolves");
        let summary = &resolved.alert.summary;
        assert!(summary.contains("of 50) is within the usual"), "{summary}");
        let quiet = rt.groups.values().next().unwrap();
        assert_eq!(quiet.alert.reason, "is within the usual rate");
    }

    #[test]
    fn a_level_the_baseline_accepts_resolves_as_the_new_level_not_earlier() {
        let relearn_after = 20;
        let mut rt = RuleRuntime::new(zscore_rule(relearn_after));
        let shift = |m: i64| if m >= 300 { 40.0 } else { 10.0 };
        let changes = run_minutes(&mut rt, 0..500, shift);
        let states: Vec<(i64, AlertState)> =
            changes.iter().map(|(m, t)| (*m, t.alert.state)).collect();
        let fired = states
            .iter()
            .find(|(_, s)| *s == AlertState::Firing)
            .expect("the shift fires")
            .0;
        let resolved = changes
            .iter()
            .find(|(_, t)| t.alert.state == AlertState::Resolved)
            .expect("the new level is accepted in the end");
        // Still far outside the old band, it must not resolve before the baseline
        // accepted it (the rarity test, once the tail held the shift, used to).
        assert!(
            resolved.0 > fired + i64::from(relearn_after),
            "resolved at {} after firing at {fired}: {states:?}",
            resolved.0
        );
        let summary = &resolved.1.alert.summary;
        assert!(
            summary.contains("is accepted as the new level"),
            "{summary}"
        );
        assert!(!summary.contains('σ'), "{summary}");
        assert_eq!(states.len(), 2, "fired once, resolved once: {states:?}");
    }

    #[test]
    fn a_failure_burst_at_low_volume_fires_without_a_min_samples_cliff() {
        let text = "[[rule]]\nname = \"errors\"\nmetric = \"workflow.error_rate\"\n\
                    detector = { kind = \"binomial\" }\n\
                    window = \"15m\"\nseverity = \"warning\"\n";
        let mut rt = RuleRuntime::new(one_rule(text));
        let week = 7 * 1440;
        let mut fired_at = None;
        for m in 0..week + 120 {
            let burst = m >= week + 30;
            // A run every 7 minutes, one in 50 failing; in the burst one a minute, 40 %.
            let (runs, failed) = match (burst, m % 7 == 0) {
                (true, _) => (true, m % 5 < 2),
                (false, true) => (true, (m / 7) % 50 == 3),
                (false, false) => (false, false),
            };
            let rows = if runs {
                vec![obs("one_shot", m * 60, if failed { 1.0 } else { 0.0 })]
            } else {
                vec![]
            };
            let out = feed(&mut rt, m * 60, rows);
            if out
                .transitions
                .iter()
                .any(|t| t.alert.state == AlertState::Firing)
            {
                assert!(burst, "fired on normal traffic at minute {m}");
                fired_at.get_or_insert(m);
            }
        }
        let fired = fired_at.expect("the burst fires");
        assert!(
            fired - (week + 30) <= 10,
            "fired {} minutes in",
            fired - (week + 30)
        );
    }

    /// One ten-second evaluation of 60 series (modes) of one value each at tick `t`.
    fn tick_of_sixty(rt: &mut RuleRuntime, t: i64) -> EvaluationOutcome {
        let rows = (0..60)
            .map(|m| obs(&format!("m{m:02}"), t * 10 - 1, 5.0 + (t % 3) as f64))
            .collect();
        feed(rt, t * 10, rows)
    }

    /// The fingerprints whose baselines each of `ticks` ten-second evaluations of
    /// [`tick_of_sixty`] wrote, whole or as a journal delta.
    fn baselines_written(
        rt: &mut RuleRuntime,
        ticks: std::ops::Range<i64>,
    ) -> Vec<Vec<Fingerprint>> {
        ticks
            .map(|t| {
                let out = tick_of_sixty(rt, t);
                let deltas = crate::engine::journal::entries(&out.journal).unwrap_or_default();
                let deltas = deltas.iter().map(|(fp, _)| Fingerprint::parse(fp).unwrap());
                out.baselines
                    .into_iter()
                    .map(|b| b.fingerprint)
                    .chain(deltas)
                    .collect()
            })
            .collect()
    }

    const ZSCORE_BY_MODE: &str = "[[rule]]\nname = \"z\"\nmetric = \"workflow.duration\"\n\
        group_by = [\"mode\"]\naggregate = \"last\"\nwindow = \"10s\"\nseverity = \"warning\"\n\
        detector = { kind = \"zscore\", window = \"1h\" }\n";

    /// Between whole states every half hour, a journaling detector writes deltas;
    /// a restore from the whole states and the journal records written since (as the
    /// store keeps them) resumes every series' baseline where it was.
    #[test]
    fn whole_baselines_every_half_hour_and_the_journal_between_restore_the_baseline() {
        let mut rt = RuleRuntime::new(one_rule(ZSCORE_BY_MODE));
        let (mut whole, mut written_at, mut ticks) = (HashMap::new(), HashMap::new(), Vec::new());
        let (mut whole_writes, mut last_written) = (0, HashMap::new());
        let mut busiest_tick = 0;
        for t in 100..(100 + 6 * 40) {
            let out = tick_of_sixty(&mut rt, t);
            if t > 100 {
                whole_writes += out.baselines.len();
                busiest_tick = busiest_tick.max(out.baselines.len());
            }
            // What each series' baseline was when last written (whole or as a delta).
            let deltas = crate::engine::journal::entries(&out.journal).unwrap_or_default();
            let written = (out.baselines.iter().map(|b| b.fingerprint.clone()))
                .chain(deltas.iter().map(|(fp, _)| Fingerprint::parse(fp).unwrap()));
            for fp in written {
                last_written.insert(fp.to_string(), rt.groups[&fp].detector.snapshot());
            }
            for b in out.baselines {
                written_at.insert(b.fingerprint.to_string(), t * 10_000);
                whole.insert(b.fingerprint.to_string(), b.state.parse().unwrap());
            }
            if !out.journal.is_empty() {
                ticks.push((t * 10_000, out.journal));
            }
        }
        // In the 40 minutes after the first write, each series whole once or twice more
        // (at its own offset in the half hour), not 40 times.
        assert!(
            (60..=100).contains(&whole_writes),
            "whole every half hour, not every minute: {whole_writes}"
        );
        // A minute's two whole states fall on different ticks, not bunched into one.
        assert!(
            busiest_tick <= 2,
            "whole writes bunched: {busiest_tick} in one tick"
        );
        // The series with deltas after their last whole state are written whole next.
        let mut behind: Vec<String> = Vec::new();
        for (at, record) in &ticks {
            for (fp, _) in crate::engine::journal::entries(record).unwrap() {
                if written_at[fp] < *at && !behind.iter().any(|b| b == fp) {
                    behind.push(fp.to_owned());
                }
            }
        }
        assert!(behind.len() > 40, "{}", behind.len());
        let mut restored = RuleRuntime::new(one_rule(ZSCORE_BY_MODE));
        restored.restore(vec![], whole);
        restored.apply_journal(crate::model::journal::BaselineJournal { written_at, ticks });
        let mut pending: Vec<String> = (restored.pending_baselines.iter())
            .map(|b| b.fingerprint.to_string())
            .collect();
        pending.sort();
        behind.sort();
        assert_eq!(pending, behind);
        assert_eq!(last_written.len(), 60);
        for (fp, live) in &last_written {
            let back = &restored.stored[fp.as_str()];
            assert_eq!(back["base"], live["base"], "{fp}");
            assert_eq!(back["streak"], live["streak"], "{fp}");
        }
    }

    #[test]
    fn baselines_are_written_once_a_minute_each_at_its_own_tick() {
        let mut rt = RuleRuntime::new(one_rule(ZSCORE_BY_MODE));
        let written = baselines_written(&mut rt, 100..118);
        assert_eq!(
            written[0].len(),
            60,
            "a new series' baseline is written at once"
        );
        // Then each series at its own offset: exactly once in every minute of six ticks.
        for minute in written[6..].chunks(6) {
            let mut all: Vec<&Fingerprint> = minute.iter().flatten().collect();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 60, "each series once a minute");
            assert_eq!(
                minute.iter().map(Vec::len).sum::<usize>(),
                60,
                "and only once"
            );
        }
        let busiest = written[1..].iter().map(Vec::len).max().unwrap();
        assert!(
            busiest < 30,
            "spread over the minute, not all at one tick: {busiest}"
        );
    }

    #[test]
    fn a_threshold_state_is_written_only_when_it_changed() {
        let mut rt = RuleRuntime::new(rule("group_by = [\"mode\"]\naggregate = \"last\""));
        let quiet: usize = baselines_written(&mut rt, 100..124)
            .iter()
            .map(Vec::len)
            .sum();
        assert_eq!(
            quiet, 60,
            "its unchanging state once per series, then never again"
        );
        let breach = vec![obs("m00", 1239, 50.0)];
        let out = feed(&mut rt, 1240, breach);
        assert_eq!(out.transitions.len(), 1);
        assert_eq!(
            out.baselines.len(),
            1,
            "the breach changed its state: written with the change"
        );
    }
}
