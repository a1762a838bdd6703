//! The alerts a budget raises, as ordinary engine alerts: for each group, fast burn,
//! slow burn, forecast over budget, and 50/80/100 % spent, each judged from a
//! [`BudgetStatus`] and advanced by the engine's own state machine, so they are routed,
//! grouped, silenced, templated and stored like any rule's alerts.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::budget::burn::{FAST, SLOW};
use crate::budget::settings::Budget;
use crate::budget::status::BudgetStatus;
use crate::engine::alert::Timing;
use crate::engine::{Alert, Judgement, Transition};
use crate::model::{AlertState, Labels, Severity};
use crate::types::Fingerprint;

/// The label that tells a budget's alerts apart.
pub const KIND_LABEL: &str = "budget_alert";

/// The kinds of budget alert: (label value, severity, timing).
const KINDS: [(&str, Severity, Timing); 6] = [
    ("fast_burn", Severity::Critical, timing(0, 0)),
    ("slow_burn", Severity::Warning, timing(0, 0)),
    // A forecast over budget fires once it has stayed over for two hours (a pace
    // change that ends within hours is noise, not a new pace: every false forecast of
    // the tuning months but one lasted under two hours), and keeps firing an hour after
    // it dips back, so a forecast that hovers at the budget notifies once.
    ("forecast", Severity::Warning, timing(7200, 3600)),
    ("spent_50", Severity::Info, timing(0, 0)),
    ("spent_80", Severity::Warning, timing(0, 0)),
    ("spent_100", Severity::Critical, timing(0, 0)),
];

const fn timing(for_secs: u64, keep_secs: u64) -> Timing {
    Timing {
        for_duration: Duration::from_secs(for_secs),
        keep_firing_for: Duration::from_secs(keep_secs),
    }
}

/// Every alert of one budget, by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct BudgetAlerts {
    /// The alerts.
    pub alerts: HashMap<Fingerprint, Alert>,
}

impl BudgetAlerts {
    /// Alerts restored from the store.
    pub fn restore(alerts: Vec<Alert>) -> Self {
        Self {
            alerts: alerts
                .into_iter()
                .map(|a| (a.fingerprint.clone(), a))
                .collect(),
        }
    }

    /// The groups these alerts are about (their labels without the kind).
    pub fn groups(&self) -> Vec<Labels> {
        let mut out: Vec<Labels> = self
            .alerts
            .values()
            .map(|a| {
                let mut g = a.group.clone();
                g.0.remove(KIND_LABEL);
                g
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Judges every kind for every status; returns the state changes. Alerts of a
    /// label set the budget no longer has (it was edited) resolve and are dropped.
    pub fn apply(
        &mut self,
        budget: &Budget,
        statuses: &[BudgetStatus],
        now: DateTime<Utc>,
    ) -> Vec<Transition> {
        let rule = budget.alert_rule();
        let extra = budget.labels.clone().with("budget", budget.name.as_str());
        let mut out = self.drop_other_label_sets(&budget.group_names(), now);
        for status in statuses {
            for (kind, severity, timing) in KINDS {
                let group = status.group.clone().with(KIND_LABEL, kind);
                let fingerprint = crate::model::fingerprint(&rule, &group);
                let alert = self
                    .alerts
                    .entry(fingerprint)
                    .or_insert_with(|| Alert::new(&rule, group, &extra, severity, now));
                if let Some(t) = alert.apply(&judge(kind, status), now, timing) {
                    out.push(t);
                }
            }
        }
        out
    }
}

impl BudgetAlerts {
    /// Resolves and forgets the alerts whose group is not made of `names` (what the
    /// budget groups by now).
    fn drop_other_label_sets(&mut self, names: &[String], now: DateTime<Utc>) -> Vec<Transition> {
        let stale: Vec<Fingerprint> = self
            .alerts
            .values()
            .filter(|a| !same_names(&a.group, names))
            .map(|a| a.fingerprint.clone())
            .collect();
        let mut out = Vec::new();
        for fp in stale {
            let Some(mut alert) = self.alerts.remove(&fp) else {
                continue;
            };
            if alert.state != AlertState::Firing {
                continue;
            }
            alert.state = AlertState::Resolved;
            alert.resolved_at = Some(now);
            alert.active_since = None;
            alert.evaluated_at = now;
            alert.reason = "the budget's label set changed".into();
            out.push(Transition {
                alert,
                from: AlertState::Firing,
                at: now,
            });
        }
        out
    }
}

/// Whether `group`'s label names, besides the kind, are exactly `names`.
pub fn same_names(group: &Labels, names: &[String]) -> bool {
    let mut have: Vec<&str> = group
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != KIND_LABEL)
        .collect();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    have.sort_unstable();
    want.sort_unstable();
    have == want
}

/// The judgement of one kind of alert on one status.
pub fn judge(kind: &str, s: &BudgetStatus) -> Judgement {
    let (breach, value, threshold, summary) = match kind {
        "fast_burn" | "slow_burn" => {
            let (b, windows, factor) = if kind == "fast_burn" {
                (&s.fast_burn, "1 h and 5 m", FAST.factor)
            } else {
                (&s.slow_burn, "6 h and 30 m", SLOW.factor)
            };
            let summary = format!(
                "{} spend burns at {:.1}× the even pace over {windows} ({:.1}×; alert above {factor}×): {} in the last {}, {} budget {}{}",
                s.who(),
                b.long.rate,
                b.short.rate,
                s.unit.format(b.long.spend),
                if kind == "fast_burn" { "hour" } else { "6 hours" },
                s.period,
                s.unit.format(s.amount),
                flat_note(s),
            );
            (b.breach, b.long.rate, factor, summary)
        }
        "forecast" => {
            let f = &s.forecast;
            let crossing = f
                .crossing_day
                .as_deref()
                .map(|d| format!("; crossing expected {d}"))
                .unwrap_or_default();
            let end_day = crate::budget::period::day_name(
                s.period_end - chrono::Duration::seconds(1),
                tz_of(s),
            );
            let summary = format!(
                "at this pace {} spend reaches {} by {end_day}, budget {}{crossing} (80 % interval {}–{}){}",
                s.who(),
                s.unit.format(f.expected),
                s.unit.format(s.amount),
                s.unit.format(f.low),
                s.unit.format(f.high),
                flat_note(s),
            );
            (
                s.forecast_settled && f.low > s.amount,
                f.expected,
                s.amount,
                summary,
            )
        }
        _ => {
            let pct: f64 = kind.trim_start_matches("spent_").parse().unwrap_or(100.0);
            let summary = format!(
                "{} has spent {} of its {} {} budget ({:.0} %)",
                s.who(),
                s.unit.format(s.spent),
                s.unit.format(s.amount),
                s.period,
                s.spent_fraction * 100.0
            );
            (
                s.spent_fraction >= pct / 100.0,
                s.spent,
                s.amount * pct / 100.0,
                summary,
            )
        }
    };
    Judgement {
        breach,
        value: Some(value),
        threshold: Some(threshold),
        score: if breach { 1.0 } else { 0.0 },
        reason: std::borrow::Cow::Owned(summary.clone()),
        summary,
    }
}

/// The note a flat pace adds.
fn flat_note(s: &BudgetStatus) -> &'static str {
    if s.pace_flat {
        " (even pace flat: no week of history to learn the traffic's daily and weekly shape yet)"
    } else {
        ""
    }
}

/// The status's time zone (UTC if its name is unknown, which validation rules out).
fn tz_of(s: &BudgetStatus) -> chrono_tz::Tz {
    s.timezone.parse().unwrap_or(chrono_tz::Tz::UTC)
}
