//! The rules page's "what would it have done last week": per rule, what a backtest of
//! the last 7 days of its source raised, as the background task (`app/last_week.rs`)
//! computed it. Kept here so the page reads it without waiting; the page's first
//! visit is what starts the task, so a console nobody opens costs the sources nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use crate::rule::Rule;

/// How far back the summary replays.
pub const SPAN: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// What one rule would have done over [`SPAN`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Week {
    /// Alerts that would have fired (over 7 days: alerts per week).
    pub alerts: usize,
    /// Hours spent firing, summed over those alerts.
    pub firing_hours: f64,
    /// Evaluations replayed.
    pub evaluations: usize,
    /// Why there is no figure (the source failed, the rule cannot be replayed).
    pub problem: Option<String>,
    /// The end of the replayed week.
    pub to: DateTime<Utc>,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
}

/// The summaries, by rule, each with the rule as it was replayed.
#[derive(Default)]
pub struct LastWeek {
    weeks: Mutex<HashMap<String, (Arc<Rule>, Week)>>,
    asked: AtomicBool,
    wanted: Notify,
}

impl std::fmt::Debug for LastWeek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LastWeek")
            .field("asked", &self.asked)
            .finish_non_exhaustive()
    }
}

impl LastWeek {
    /// The summary of `rule` as it runs now (None: not computed yet, or computed for an
    /// earlier version of the rule, which the task is replacing).
    pub fn get(&self, rule: &Arc<Rule>) -> Option<Week> {
        let weeks = self.weeks.lock().unwrap_or_else(PoisonError::into_inner);
        let (replayed, week) = weeks.get(&rule.name)?;
        (Arc::ptr_eq(replayed, rule) || replayed == rule).then(|| week.clone())
    }

    /// Says the summaries are wanted: the first call wakes the task.
    pub fn ask(&self) {
        if !self.asked.swap(true, Ordering::AcqRel) {
            self.wanted.notify_one();
        }
    }

    /// Waits until the page first asks.
    pub async fn wanted(&self) {
        if !self.asked.load(Ordering::Acquire) {
            self.wanted.notified().await;
        }
    }

    /// Keeps `week`, the summary of `rule`.
    pub fn put(&self, rule: Arc<Rule>, week: Week) {
        let mut weeks = self.weeks.lock().unwrap_or_else(PoisonError::into_inner);
        weeks.insert(rule.name.clone(), (rule, week));
    }

    /// Keeps only the summaries of rules named in `names`.
    pub fn retain(&self, names: &[&str]) {
        let mut weeks = self.weeks.lock().unwrap_or_else(PoisonError::into_inner);
        weeks.retain(|name, _| names.contains(&name.as_str()));
    }

    /// The rules whose summary is missing, or older than `max_age` at `now`, or of
    /// another version of the rule: the ones to compute next.
    pub fn stale(
        &self,
        rules: &[Arc<Rule>],
        now: DateTime<Utc>,
        max_age: chrono::TimeDelta,
    ) -> Vec<Arc<Rule>> {
        rules
            .iter()
            .filter(|r| {
                let weeks = self.weeks.lock().unwrap_or_else(PoisonError::into_inner);
                weeks.get(&r.name).is_none_or(|(replayed, week)| {
                    replayed != *r || now - week.computed_at >= max_age
                })
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{parse_rules, RuleContext};
    use crate::types::SourceFile;

    fn rule(above: u32) -> Arc<Rule> {
        let text = format!(
            "[[rule]]\nname = \"slow\"\nmetric = \"workflow.duration\"\naggregate = \"max\"\n\
             window = \"1h\"\nevery = \"1m\"\nseverity = \"warning\"\nsummary = \"s\"\n\
             detector = {{ kind = \"threshold\", above = {above} }}\n"
        );
        let ctx = RuleContext {
            sources: vec!["cmbagent".to_owned()],
            source_kinds: Default::default(),
            receivers: vec!["hook".to_owned()],
            default_receivers: vec!["hook".to_owned()],
        };
        parse_rules(&[SourceFile::new("t.toml", text)], &ctx)
            .unwrap()
            .rules[0]
            .clone()
    }

    fn week(at: DateTime<Utc>) -> Week {
        Week {
            alerts: 2,
            firing_hours: 1.5,
            evaluations: 10_080,
            problem: None,
            to: at,
            computed_at: at,
        }
    }

    #[test]
    fn a_summary_serves_its_rule_until_the_rule_changes_or_it_grows_old() {
        let cache = LastWeek::default();
        let (v1, now) = (rule(600), Utc::now());
        let hour = chrono::TimeDelta::hours(1);
        assert!(cache.get(&v1).is_none(), "computing until the first result");
        assert_eq!(cache.stale(std::slice::from_ref(&v1), now, hour).len(), 1);
        cache.put(Arc::clone(&v1), week(now));
        assert_eq!(cache.get(&v1), Some(week(now)));
        assert_eq!(cache.get(&rule(600)), Some(week(now)), "an equal reload");
        assert!(cache.stale(std::slice::from_ref(&v1), now, hour).is_empty());
        let later = now + hour;
        assert_eq!(cache.stale(std::slice::from_ref(&v1), later, hour).len(), 1);
        let v2 = rule(900);
        assert!(cache.get(&v2).is_none(), "an edited rule is computed again");
        assert_eq!(cache.stale(std::slice::from_ref(&v2), now, hour).len(), 1);
        cache.retain(&[]);
        assert!(cache.get(&v1).is_none(), "a removed rule's summary goes");
    }
}
