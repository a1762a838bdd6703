//! Sliced rules: one rule judges several label sets (`slices = [[], ["model"], ["agent"]]`),
//! and when one cause shows in several of them, one alert names the slice that explains
//! it best (the strongest evidence) and lists the others as context, instead of paging
//! once per slice. An alert already pending or firing keeps carrying its cause while the
//! best slice is refined, so its fingerprint stays, and moves (group and labels) to a
//! slice that comes to explain the cause far better.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::detect::binomial::upper_tail;
use crate::detect::{Pooled, Verdict};
use crate::engine::alert::Timing;
use crate::engine::evaluate::{
    conclude, explained, judge, judged_value, new_group, EvalCtx, EvaluationOutcome, RuleRuntime,
};
use crate::model::{fingerprint, AlertState, Labels};
use crate::types::Fingerprint;

/// One slice series judged at this evaluation, before causes are assigned.
struct Judged {
    fingerprint: Fingerprint,
    labels: Labels,
    value: f64,
    verdict: Verdict,
    /// An active alert whose slice has no values in this window: it may still carry its
    /// cause (a quiet slice between calls), and is concluded only if it does.
    absent: bool,
}

/// True when some row could belong to both slices: no label has two different values.
pub fn overlap(a: &Labels, b: &Labels) -> bool {
    a.iter()
        .all(|(k, v)| b.get(k).is_none_or(|w| w == v.as_str()))
}

/// The window's values of every slice, in slice order then label order.
fn slice_values(runtime: &RuleRuntime, fine: &[(u32, Vec<f64>)]) -> Vec<(Labels, Vec<f64>)> {
    let mut out = Vec::new();
    for slice in &runtime.rule.slices {
        let names: Vec<String> = slice.iter().map(|l| l.as_str().to_owned()).collect();
        let mut by_labels: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
        for (id, values) in fine {
            let labels = runtime.window.labels(*id).project(&names);
            by_labels
                .entry(labels)
                .or_default()
                .extend_from_slice(values);
        }
        out.extend(by_labels);
    }
    out
}

/// For a pooled rule: each coarser slice series' count of values above their own finest
/// series' limit, of values judged (those of finest series still learning are not), and
/// of their scores, read before this window is learnt.
fn pooled_counts(runtime: &RuleRuntime, fine: &[(u32, Vec<f64>)]) -> BTreeMap<Labels, Pooled> {
    let mut out = BTreeMap::new();
    if !runtime.rule.detector.is_pooled() {
        return out;
    }
    let finest = runtime.rule.group_by.len();
    let judged: Vec<(Option<f64>, Option<f64>)> = fine
        .iter()
        .map(|(id, values)| {
            let fp = runtime.slice_fingerprints.get(runtime.window.labels(*id));
            let detector = &fp.and_then(|fp| runtime.groups.get(fp))?.detector;
            Some((detector.high_limit(), detector.score_sum(values)))
        })
        .map(Option::unwrap_or_default)
        .collect();
    for slice in runtime.rule.slices.iter().filter(|s| s.len() < finest) {
        let names: Vec<String> = slice.iter().map(|l| l.as_str().to_owned()).collect();
        for ((id, values), (limit, scores)) in fine.iter().zip(&judged) {
            let labels = runtime.window.labels(*id).project(&names);
            let pooled: &mut Pooled = out.entry(labels).or_default();
            if let Some(limit) = limit {
                pooled.high += values.iter().filter(|v| **v > *limit).count() as u64;
                pooled.n += values.len() as u64;
            }
            if let Some(sum) = scores {
                pooled.score_sum += sum;
                pooled.scored += values.len() as u64;
            }
        }
    }
    out
}

/// Groups the anomalous series into causes: connected sets of overlapping slices. A
/// series whose alert is active (`active[i]`) joins too, so a cause that moves to a
/// sibling slice (from agent=a to mode=x) stays on the alert already reporting it; sets
/// with no anomalous series are no cause.
fn causes(judged: &[Judged], active: &[bool]) -> Vec<Vec<usize>> {
    let anomalous: Vec<usize> = (0..judged.len())
        .filter(|i| judged[*i].verdict.anomalous || active[*i])
        .collect();
    let mut cause_of: Vec<Option<usize>> = vec![None; judged.len()];
    let mut out: Vec<Vec<usize>> = Vec::new();
    for &seed in &anomalous {
        if cause_of[seed].is_some() {
            continue;
        }
        let id = out.len();
        let mut members = vec![seed];
        cause_of[seed] = Some(id);
        let mut next = 0;
        while next < members.len() {
            let m = members[next];
            next += 1;
            for &o in &anomalous {
                if cause_of[o].is_none() && overlap(&judged[m].labels, &judged[o].labels) {
                    cause_of[o] = Some(id);
                    members.push(o);
                }
            }
        }
        if members.iter().any(|m| judged[*m].verdict.anomalous) {
            out.push(members);
        }
    }
    add_concentrated(judged, &mut cause_of, &mut out);
    out
}

/// High observations a slice that is not anomalous needs to join an overlapping cause.
const MIN_HIGH_TO_JOIN: u64 = 3;

/// Adds to each cause the overlapping slices that hold several of its high observations
/// but are not anomalous on their own, so they compete for naming it: a cause confined to
/// agent=a may first reach significance on mode=x (whose counts scatter less) while
/// agent=a, where it is concentrated, has not yet; the alert belongs on agent=a.
fn add_concentrated(judged: &[Judged], cause_of: &mut [Option<usize>], out: &mut [Vec<usize>]) {
    for (i, j) in judged.iter().enumerate() {
        if cause_of[i].is_some() || j.verdict.share.is_none_or(|s| s.high < MIN_HIGH_TO_JOIN) {
            continue;
        }
        let joined = out.iter_mut().enumerate().find(|(_, members)| {
            members
                .iter()
                .any(|m| judged[*m].verdict.anomalous && overlap(&judged[*m].labels, &j.labels))
        });
        if let Some((id, members)) = joined {
            cause_of[i] = Some(id);
            members.push(i);
        }
    }
}

/// How a slice is named in reasons: its labels, or "all traffic" for the empty slice.
fn slice_name(labels: &Labels) -> String {
    match labels.to_string() {
        s if s.is_empty() => "all traffic".to_owned(),
        s => s,
    }
}

/// The slice that explains the cause best first: the one whose count of high
/// observations is least likely by chance (the plain binomial tail, without the
/// detector's allowance for clustering, which differs between slices), else the strongest
/// evidence; between equals, the coarser slice (it explains more). Among mode=x (half its
/// agents affected) and agent=a (all of it), agent=a holds the same high observations in
/// fewer trials; among agent=a (all of whose calls are in mode=x) and mode=x (every agent
/// affected), mode=x holds more of them.
fn by_evidence(judged: &[Judged], members: &mut [usize]) {
    members.sort_by(|a, b| {
        let (x, y) = (&judged[*a], &judged[*b]);
        rank(&y.verdict)
            .total_cmp(&rank(&x.verdict))
            .then(x.labels.0.len().cmp(&y.labels.0.len()))
            .then(x.labels.cmp(&y.labels))
    });
}

/// Counted shares by their binomial evidence, above every other verdict; then evidence,
/// then score.
fn rank(v: &Verdict) -> f64 {
    match v.share {
        Some(s) if s.n > 0 => 2.0 + -upper_tail(s.high, s.n, s.usual).max(1e-300).ln(),
        _ if v.evidence > 0.0 => 1.0 - 1.0 / (1.0 + v.evidence),
        _ => v.score.clamp(0.0, 1.0) * 0.5,
    }
}

impl RuleRuntime {
    /// Evaluates a sliced rule: every slice's series is judged, then each cause becomes
    /// one alert on the series that already carries it, or else on its best slice.
    pub(super) fn evaluate_sliced(
        &mut self,
        now: DateTime<Utc>,
        timing: Timing,
        mut out: EvaluationOutcome,
    ) -> EvaluationOutcome {
        let rule = std::sync::Arc::clone(&self.rule);
        let fine = self.window.group_values();
        let mut series = slice_values(self, &fine);
        if series.len() > rule.max_series {
            out.dropped_series = series.len() - rule.max_series;
            series.truncate(rule.max_series);
        }
        out.series = series.len();
        self.evaluations += 1;
        let pooled = pooled_counts(self, &fine);
        let mut judged = self.judge_slices(series, &pooled, now);
        self.add_absent_active(&mut judged);
        let active: Vec<bool> = judged
            .iter()
            .map(|j| {
                matches!(
                    self.groups[&j.fingerprint].alert.state,
                    AlertState::Pending | AlertState::Firing
                )
            })
            .collect();
        for members in causes(&judged, &active) {
            self.assign(&mut judged, members);
        }
        let ctx = EvalCtx {
            rule: std::sync::Arc::clone(&rule),
            now,
            timing,
            collect_points: self.collect_points,
            collect_baselines: self.collect_baselines,
        };
        let count = judged.iter().filter(|j| !j.absent).count();
        for j in judged {
            if j.absent && !j.verdict.anomalous {
                continue;
            }
            let runtime = self.groups.get_mut(&j.fingerprint).expect("judged above");
            runtime.seen_in = self.evaluations;
            conclude(&ctx, &j.fingerprint, runtime, j.value, j.verdict, &mut out);
        }
        self.apply_no_data(now, timing, count, &mut out);
        out
    }

    /// Each slice series' verdict, its runtime created on first sight.
    fn judge_slices(
        &mut self,
        series: Vec<(Labels, Vec<f64>)>,
        pooled: &BTreeMap<Labels, Pooled>,
        now: DateTime<Utc>,
    ) -> Vec<Judged> {
        let rule = std::sync::Arc::clone(&self.rule);
        let window_secs = rule.window.as_secs_f64();
        let mut judged = Vec::with_capacity(series.len());
        for (labels, mut values) in series {
            let Some((value, counts)) = judged_value(&rule, &mut values, window_secs) else {
                continue;
            };
            let fp = self
                .slice_fingerprints
                .entry(labels.clone())
                .or_insert_with(|| fingerprint(&rule.name, &labels))
                .clone();
            let runtime = self
                .groups
                .entry(fp.clone())
                .or_insert_with(|| new_group(&rule, &mut self.stored, &fp, labels.clone(), now));
            runtime.seen_in = self.evaluations;
            let now_ms = now.timestamp_millis();
            let verdict = match pooled.get(&labels) {
                Some(counts) => {
                    let verdict = runtime.detector.observe_exceedances(now_ms, counts);
                    explained(runtime, verdict)
                }
                None => judge(runtime, now_ms, &values, value, counts),
            };
            judged.push(Judged {
                fingerprint: fp,
                labels,
                value,
                verdict,
                absent: false,
            });
        }
        judged
    }

    /// The pending or firing alerts whose slice has no values this window, as judged
    /// series that are not anomalous, so a cause they carry stays on them.
    fn add_absent_active(&self, judged: &mut Vec<Judged>) {
        // judge_slices marks every series it judged with this evaluation.
        let mut absent: Vec<Judged> = self
            .groups
            .iter()
            .filter(|(_, g)| {
                g.seen_in != self.evaluations
                    && matches!(g.alert.state, AlertState::Pending | AlertState::Firing)
            })
            .map(|(fp, g)| Judged {
                fingerprint: fp.clone(),
                labels: g.alert.group.clone(),
                value: g.alert.value.unwrap_or(f64::NAN),
                verdict: Verdict {
                    anomalous: false,
                    score: 0.0,
                    expected: g.alert.threshold,
                    band: None,
                    reason: "has no values in the window".into(),
                    warming_up: false,
                    evidence: 0.0,
                    share: None,
                },
                absent: true,
            })
            .collect();
        absent.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        judged.extend(absent);
    }

    /// Among the members that explain the cause equally well (the same rows, as when every
    /// call in the window is agent=a's in mode=x), the one that last carried a cause goes
    /// first: a cause that comes back after a quiet spell reopens the slice it was on, and
    /// one that comes back in other rows (agent=b's, in mode=x too) goes to the slice the
    /// resolved alert listed as sharing both, not to a new sibling of it.
    fn prefer_last_resolved(&self, judged: &[Judged], members: &mut [usize]) {
        let top = rank(&judged[members[0]].verdict);
        let tied = members
            .iter()
            .take_while(|i| rank(&judged[**i].verdict) >= top - 1e-9)
            .count();
        if tied < 2 {
            return;
        }
        // One pass over the resolved alerts: the latest that was a tied member's own, or
        // listed it; its own alert first at the same time, then the better-ranked member.
        let mut best = None;
        for alert in self.groups.values().map(|g| &g.alert) {
            let Some(at) = alert.resolved_at else {
                continue;
            };
            for (i, m) in members[..tied].iter().enumerate() {
                let labels = &judged[*m].labels;
                let own = alert.group == *labels;
                if own || alert.slices.contains(labels) {
                    let key = (at, own, std::cmp::Reverse(i));
                    best = best.max(Some(key));
                }
            }
        }
        if let Some((_, _, std::cmp::Reverse(best))) = best {
            members[..=best].rotate_right(1);
        }
    }

    /// Gives one cause to one alert: the member already pending or firing with the most
    /// evidence, else the best slice. The others do not breach on their own; the holder
    /// lists every member, best first.
    fn assign(&mut self, judged: &mut [Judged], mut members: Vec<usize>) {
        by_evidence(judged, &mut members);
        self.prefer_last_resolved(judged, &mut members);
        let active = |i: &usize| {
            matches!(
                self.groups[&judged[*i].fingerprint].alert.state,
                AlertState::Pending | AlertState::Firing
            )
        };
        let holder = members.iter().copied().find(active).unwrap_or(members[0]);
        let Some(best_at) = members
            .iter()
            .copied()
            .find(|i| judged[*i].verdict.anomalous)
        else {
            return;
        };
        let best_is_other_alert = best_at != holder && active(&best_at);
        let holder_active = active(&holder);
        self.rehome(
            judged,
            &members,
            holder,
            best_at,
            holder_active && !best_is_other_alert,
        );
        let best = slice_name(&judged[best_at].labels);
        if !judged[holder].verdict.anomalous {
            // The cause moved to a sibling slice, or is most concentrated on a slice not
            // yet significant on its own: the alert names where it is concentrated.
            let reason = if holder_active {
                format!(
                    "(the cause now shows on {best} {})",
                    judged[best_at].verdict.reason
                )
            } else {
                let (high, n) = judged[holder]
                    .verdict
                    .share
                    .map_or((0, 0), |s| (s.high, s.n));
                format!(
                    "({high} of {n} high here, where the cause is most concentrated; {best} {})",
                    judged[best_at].verdict.reason
                )
            };
            let v = &mut judged[holder].verdict;
            v.anomalous = true;
            v.reason = reason.into();
        }
        let slices: Vec<Labels> = members
            .iter()
            .filter(|i| judged[**i].verdict.anomalous)
            .map(|i| judged[*i].labels.clone())
            .collect();
        let on = slice_name(&self.groups[&judged[holder].fingerprint].alert.group);
        for &m in &members {
            if m != holder {
                let v = &mut judged[m].verdict;
                v.anomalous = false;
                v.reason = format!("is part of the cause the alert on {on} reports").into();
            }
        }
        if let Some(g) = self.groups.get_mut(&judged[holder].fingerprint) {
            g.alert.slices = slices;
        }
    }
}

/// How much rarer by chance (the log of the ratio of the two counts' binomial tails) the
/// best slice's count must be than that of the slice an active alert names, for the
/// alert to move there: a hundred times, so it does not flap between slices that
/// explain the cause about as well.
const REHOME_MARGIN: f64 = 4.6;

impl RuleRuntime {
    /// Names the slice that explains the cause on its alert: an active alert moves to
    /// the best slice once that explains the cause far better than the one it names
    /// (the first expensive calls were one run's, alike in agent, mode and model; later
    /// runs show which of them it is), keeping its fingerprint; an alert that starts
    /// names its own slice again. `may_move` is false when the best slice has an alert
    /// of its own, so two alerts never name one slice.
    fn rehome(
        &mut self,
        judged: &[Judged],
        members: &[usize],
        holder: usize,
        best_at: usize,
        may_move: bool,
    ) {
        let extra = self.rule.labels.clone();
        let Some(g) = self.groups.get_mut(&judged[holder].fingerprint) else {
            return;
        };
        let starting = !matches!(g.alert.state, AlertState::Pending | AlertState::Firing);
        if starting {
            // Only active alerts are absent entries, so these are the series' own labels.
            if g.alert.group != judged[holder].labels {
                g.alert.rehome(judged[holder].labels.clone(), &extra);
            }
            return;
        }
        let best = &judged[best_at].labels;
        if !may_move || *best == g.alert.group {
            return;
        }
        let named = members
            .iter()
            .filter(|i| judged[**i].labels == g.alert.group)
            .map(|i| rank(&judged[*i].verdict))
            .fold(0.0, f64::max);
        if rank(&judged[best_at].verdict) > named + REHOME_MARGIN {
            g.alert.rehome(best.clone(), &extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;
    use crate::rule::{parse_rules, RuleContext};
    use crate::sources::Observation;
    use crate::types::SourceFile;
    use std::sync::Arc;

    /// The one rule `text` holds, parsed as a rule file is.
    fn rule_from(text: &str) -> Arc<crate::rule::Rule> {
        let ctx = RuleContext {
            sources: vec!["s".into()],
            source_kinds: Default::default(),
            receivers: vec![],
            default_receivers: vec![],
        };
        let set = parse_rules(&[SourceFile::new("t.toml", text)], &ctx).unwrap();
        Arc::clone(&set.rules[0])
    }

    fn sliced_rule() -> Arc<crate::rule::Rule> {
        rule_from(
            "[[rule]]\nname = \"errors\"\nmetric = \"workflow.error_rate\"\n\
             slices = [[], [\"model\"], [\"mode\"]]\nwindow = \"20m\"\n\
             detector = { kind = \"binomial\" }\n\
             severity = \"warning\"\n",
        )
    }

    fn run(model: &str, mode: &str, secs: i64, failed: bool) -> Observation {
        Observation {
            labels: Labels::from([("model", model), ("mode", mode)]).into(),
            sample: Sample {
                ts: DateTime::from_timestamp(secs, 0).unwrap(),
                value: if failed { 1.0 } else { 0.0 },
            },
        }
    }

    /// A minute of runs: one of each (model, mode); in the burst, half of mode `x` fails.
    fn minute(m: i64, burst: bool) -> Vec<Observation> {
        let mut rows = Vec::new();
        for (i, model) in ["a", "b", "c"].iter().enumerate() {
            for (j, mode) in ["x", "y"].iter().enumerate() {
                let usual = (m * 6 + (i * 2 + j) as i64) % 60 == 7;
                let failed = usual || (burst && *mode == "x" && (m + i as i64) % 2 == 0);
                rows.push(run(model, mode, m * 60, failed));
            }
        }
        rows
    }

    #[test]
    fn a_cause_in_several_slices_is_one_alert_on_the_slice_that_explains_it() {
        let mut rt = RuleRuntime::new(sliced_rule());
        let at = |m: i64| DateTime::from_timestamp(m * 60, 0).unwrap();
        let (week, burst) = (7 * 1440, 7 * 1440 + 60);
        let mut firing: Vec<crate::engine::alert::Alert> = Vec::new();
        for m in 0..week + 120 {
            let (start, end) = rt.window_at(at(m));
            let (after, until) = rt.window.fetch_range(start, end);
            rt.ingest(minute(m, m >= burst), after, until, false);
            let out = rt.evaluate(at(m));
            assert_eq!(out.series, 6, "all, three models, two modes");
            for t in out
                .transitions
                .iter()
                .filter(|t| t.alert.state == AlertState::Firing)
            {
                assert!(m >= burst, "fired on normal traffic at minute {m}");
                firing.push(t.alert.clone());
            }
        }
        assert_eq!(firing.len(), 1, "one alert for one cause: {firing:#?}");
        let alert = &firing[0];
        assert_eq!(alert.group, Labels::from([("mode", "x")]), "{alert:#?}");
        assert_eq!(alert.slices[0], Labels::from([("mode", "x")]));
        let fp = alert.fingerprint.clone();
        // The same alert carries the cause while it lasts, whatever slice is best, and
        // lists the other slices the cause shows in once they are anomalous too.
        let firing_now: Vec<_> = rt
            .groups
            .values()
            .filter(|g| g.alert.state == AlertState::Firing)
            .map(|g| &g.alert)
            .collect();
        assert_eq!(firing_now.len(), 1, "{firing_now:#?}");
        assert_eq!(firing_now[0].fingerprint, fp);
        assert!(
            firing_now[0].slices.len() >= 2,
            "the other slices it shows in: {:#?}",
            firing_now[0]
        );
    }

    fn pooled_rule() -> Arc<crate::rule::Rule> {
        rule_from(
            "[[rule]]\nname = \"cost\"\nmetric = \"llm.cost\"\n\
             slices = [[\"agent\"], [\"mode\"], [\"agent\", \"mode\", \"model\"]]\n\
             detector = { kind = \"exceedance\", pooled = true }\n\
             window = \"15m\"\nkeep_firing_for = \"30m\"\nseverity = \"warning\"\n",
        )
    }

    /// A minute of calls: each agent calls each model in each mode once; model `b` costs
    /// a hundred times `a`. In `mix` minutes agent y calls only `b`; in `jump` minutes
    /// agent x's calls cost five times their usual.
    fn cost_minute(m: i64, mix: bool, jump: bool) -> Vec<Observation> {
        let mut rows = Vec::new();
        for agent in ["x", "y"] {
            for mode in ["m1", "m2"] {
                for (model, price) in [("a", 1.0), ("b", 100.0)] {
                    if mix && agent == "y" && model == "a" {
                        continue;
                    }
                    // Each series its own phase, so their high values do not coincide.
                    let phase = (agent.len() + mode.len() * 3 + price as usize) as i64;
                    let noise = 1.0 + ((m * 7 + phase * 5 + rows.len() as i64) % 13) as f64 / 26.0;
                    let factor = if jump && agent == "x" { 5.0 } else { 1.0 };
                    rows.push(Observation {
                        labels: Labels::from([("agent", agent), ("mode", mode), ("model", model)])
                            .into(),
                        sample: Sample {
                            ts: DateTime::from_timestamp(m * 60, 0).unwrap(),
                            value: price * noise * factor,
                        },
                    });
                }
            }
        }
        rows
    }

    #[test]
    fn a_pooled_slice_counts_against_its_finest_series_and_reports_where_the_cause_is_concentrated()
    {
        let mut rt = RuleRuntime::new(pooled_rule());
        let at = |m: i64| DateTime::from_timestamp(m * 60, 0).unwrap();
        let (mix, jump) = (1440..1500, 2880..2940);
        let mut firing = Vec::new();
        for m in 0..3000 {
            let (start, end) = rt.window_at(at(m));
            let (after, until) = rt.window.fetch_range(start, end);
            rt.ingest(
                cost_minute(m, mix.contains(&m), jump.contains(&m)),
                after,
                until,
                false,
            );
            let out = rt.evaluate(at(m));
            for t in out
                .transitions
                .iter()
                .filter(|t| t.alert.state == AlertState::Firing)
            {
                // Agent y buying only the dearer model moves its mixed distribution, not
                // what is high for each model: no alert.
                assert!(
                    jump.contains(&m),
                    "fired outside the jump at minute {m}: {t:#?}"
                );
                firing.push(t.alert.clone());
            }
        }
        assert_eq!(firing.len(), 1, "one alert for one cause: {firing:#?}");
        let alert = &firing[0];
        // All of agent x's calls are high, half of each mode's: agent=x explains it.
        assert_eq!(alert.group, Labels::from([("agent", "x")]), "{alert:#?}");
    }

    fn judged(labels: Labels, anomalous: bool, high: u64, n: u64) -> Judged {
        Judged {
            fingerprint: fingerprint("cost", &labels),
            labels,
            value: 1.0,
            verdict: Verdict {
                anomalous,
                score: 0.0,
                expected: None,
                band: None,
                reason: "".into(),
                warming_up: false,
                evidence: 0.0,
                share: Some(crate::detect::Share {
                    high,
                    n,
                    usual: 0.01,
                }),
            },
            absent: false,
        }
    }

    #[test]
    fn a_slice_not_yet_significant_joins_the_cause_and_names_it_when_its_count_is_rarer() {
        // mode=x passed the test first (its counts scatter less); agent=a holds the same
        // high calls in far fewer trials; agent=b has none of them.
        let series = vec![
            judged(Labels::from([("mode", "x")]), true, 6, 16),
            judged(Labels::from([("agent", "a")]), false, 6, 7),
            judged(Labels::from([("agent", "b")]), false, 0, 9),
            judged(Labels::from([("mode", "y")]), false, 2, 9),
        ];
        let mut found = causes(&series, &[false; 4]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0],
            vec![0, 1],
            "a few high values do not join; none do not"
        );
        by_evidence(&series, &mut found[0]);
        assert_eq!(series[found[0][0]].labels, Labels::from([("agent", "a")]));
    }

    /// The pooled rule after half an hour of normal calls: every slice has its series.
    fn pooled_runtime_after_normal_calls() -> RuleRuntime {
        let mut rt = RuleRuntime::new(pooled_rule());
        for m in 0..30 {
            let now = DateTime::from_timestamp(m * 60, 0).unwrap();
            let (start, end) = rt.window_at(now);
            let (after, until) = rt.window.fetch_range(start, end);
            rt.ingest(cost_minute(m, false, false), after, until, false);
            rt.evaluate(now);
        }
        rt
    }

    #[test]
    fn an_alert_whose_slice_is_quiet_keeps_the_cause_that_shows_in_an_overlapping_slice() {
        let mut rt = pooled_runtime_after_normal_calls();
        let m1 = Labels::from([("mode", "m1")]);
        let held = fingerprint("cost", &m1);
        rt.groups.get_mut(&held).unwrap().alert.state = AlertState::Firing;
        // A new evaluation, in whose window mode m1 has no values.
        rt.evaluations += 1;
        // This window only agent x's calls in mode m2 are high, and mode m1 has none.
        let mut series = vec![judged(Labels::from([("agent", "x")]), true, 5, 5)];
        series[0].fingerprint = fingerprint("cost", &series[0].labels);
        rt.add_absent_active(&mut series);
        assert_eq!(
            series.len(),
            2,
            "{:?}",
            series.iter().map(|j| &j.labels).collect::<Vec<_>>()
        );
        assert!(series[1].absent && series[1].labels == m1);
        let active = [false, true];
        let found = causes(&series, &active);
        assert_eq!(found, vec![vec![0, 1]]);
        rt.assign(&mut series, found[0].clone());
        assert!(
            series[1].verdict.anomalous,
            "the firing alert carries the cause"
        );
        assert!(
            series[1].verdict.reason.contains("now shows on agent=x"),
            "{}",
            series[1].verdict.reason
        );
        assert!(!series[0].verdict.anomalous, "no second alert");
    }

    #[test]
    fn between_slices_holding_the_same_rows_the_one_that_resolved_last_reopens() {
        let mut rt = pooled_runtime_after_normal_calls();
        let at = |m: i64| DateTime::from_timestamp(m * 60, 0).unwrap();
        let (x, m1) = (
            Labels::from([("agent", "x")]),
            Labels::from([("mode", "m1")]),
        );
        let series = vec![
            judged(x.clone(), true, 5, 5),
            judged(m1.clone(), true, 5, 5),
        ];
        let mut members = vec![0, 1];
        by_evidence(&series, &mut members);
        assert_eq!(series[members[0]].labels, x, "equal evidence: label order");
        rt.groups
            .get_mut(&fingerprint("cost", &m1))
            .unwrap()
            .alert
            .resolved_at = Some(at(20));
        rt.prefer_last_resolved(&series, &mut members);
        assert_eq!(
            series[members[0]].labels, m1,
            "the slice the cause was last on"
        );
    }

    #[test]
    fn a_cause_back_in_other_rows_goes_to_the_slice_the_resolved_alert_shared_with_them() {
        // The first expensive run was agent x's in mode m1: the alert went to agent=x and
        // listed mode=m1 beside it. The next one is agent y's, in mode m1 too.
        let mut rt = pooled_runtime_after_normal_calls();
        let at = |m: i64| DateTime::from_timestamp(m * 60, 0).unwrap();
        let (x, y, m1) = (
            Labels::from([("agent", "x")]),
            Labels::from([("agent", "y")]),
            Labels::from([("mode", "m1")]),
        );
        let first = &mut rt.groups.get_mut(&fingerprint("cost", &x)).unwrap().alert;
        first.resolved_at = Some(at(20));
        first.slices = vec![x.clone(), m1.clone()];
        let series = vec![
            judged(y.clone(), true, 5, 5),
            judged(m1.clone(), true, 5, 5),
        ];
        let mut members = vec![0, 1];
        by_evidence(&series, &mut members);
        assert_eq!(series[members[0]].labels, y, "equal evidence: label order");
        rt.prefer_last_resolved(&series, &mut members);
        assert_eq!(series[members[0]].labels, m1, "the slice both runs share");

        // A slice's own resolved alert wins over its listing in another one of that time.
        let mut rt = pooled_runtime_after_normal_calls();
        let own = &mut rt.groups.get_mut(&fingerprint("cost", &y)).unwrap().alert;
        own.resolved_at = Some(at(20));
        let other = &mut rt.groups.get_mut(&fingerprint("cost", &x)).unwrap().alert;
        other.resolved_at = Some(at(20));
        other.slices = vec![x.clone(), m1.clone()];
        let mut members = vec![1, 0];
        rt.prefer_last_resolved(&series, &mut members);
        assert_eq!(series[members[0]].labels, y);
    }

    #[test]
    fn a_firing_alert_moves_to_the_slice_that_explains_its_cause_far_better_keeping_its_fingerprint(
    ) {
        let mut rt = pooled_runtime_after_normal_calls();
        let (x, m1) = (
            Labels::from([("agent", "x")]),
            Labels::from([("mode", "m1")]),
        );
        let held = fingerprint("cost", &x);
        rt.groups.get_mut(&held).unwrap().alert.state = AlertState::Firing;
        let fire = |rt: &mut RuleRuntime, on_x: (u64, u64), on_m1: (u64, u64)| {
            let mut series = vec![
                judged(x.clone(), true, on_x.0, on_x.1),
                judged(m1.clone(), true, on_m1.0, on_m1.1),
            ];
            let found = causes(&series, &[true, false]);
            rt.assign(&mut series, found[0].clone());
            series
        };
        // About as rare on mode m1 as on agent x: the alert stays where it is.
        fire(&mut rt, (4, 8), (5, 12));
        assert_eq!(rt.groups[&held].alert.group, x);
        // Later runs, of other agents in mode m1 too: m1 explains it far better.
        let series = fire(&mut rt, (4, 8), (12, 14));
        let alert = &rt.groups[&held].alert;
        assert_eq!(alert.fingerprint, held, "the same alert");
        assert_eq!(alert.group, m1, "now named on mode=m1");
        assert_eq!(alert.labels.get("mode"), Some("m1"));
        assert_eq!(alert.labels.get("agent"), None);
        assert_eq!(alert.labels.get("rule"), Some("cost"));
        assert!(series[0].verdict.anomalous && !series[1].verdict.anomalous);
        assert!(
            series[1].verdict.reason.contains("the alert on mode=m1"),
            "{}",
            series[1].verdict.reason
        );
        assert_eq!(
            rt.groups[&fingerprint("cost", &m1)].alert.state,
            AlertState::Inactive,
            "no second alert on m1"
        );
        // Once it has resolved, a new cause on agent x starts on agent x's own slice.
        rt.groups.get_mut(&held).unwrap().alert.state = AlertState::Resolved;
        let mut series = vec![judged(x.clone(), true, 5, 5)];
        rt.assign(&mut series, vec![0]);
        assert_eq!(rt.groups[&held].alert.group, x);
        assert_eq!(rt.groups[&held].alert.labels.get("agent"), Some("x"));
    }

    #[test]
    fn when_the_better_slice_has_an_alert_of_its_own_it_carries_the_cause_and_the_other_stays() {
        let mut rt = pooled_runtime_after_normal_calls();
        let (x, m1) = (
            Labels::from([("agent", "x")]),
            Labels::from([("mode", "m1")]),
        );
        for l in [&x, &m1] {
            rt.groups
                .get_mut(&fingerprint("cost", l))
                .unwrap()
                .alert
                .state = AlertState::Firing;
        }
        let mut series = vec![
            judged(x.clone(), true, 4, 8),
            judged(m1.clone(), true, 12, 14),
        ];
        let found = causes(&series, &[true, true]);
        rt.assign(&mut series, found[0].clone());
        assert!(series[1].verdict.anomalous && !series[0].verdict.anomalous);
        assert_eq!(rt.groups[&fingerprint("cost", &x)].alert.group, x);
        assert_eq!(rt.groups[&fingerprint("cost", &m1)].alert.group, m1);
    }

    #[test]
    fn slices_overlap_unless_a_label_differs() {
        let all = Labels::new();
        let m = Labels::from([("model", "a")]);
        let m2 = Labels::from([("model", "b")]);
        let mode = Labels::from([("mode", "x")]);
        assert!(overlap(&all, &m) && overlap(&m, &all));
        assert!(overlap(&m, &mode));
        assert!(!overlap(&m, &m2));
        assert!(overlap(&Labels::from([("model", "a"), ("mode", "x")]), &m));
    }
}
