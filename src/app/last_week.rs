//! The task behind the rules page's "what would it have done last week": once the page
//! is first opened, it replays each running rule over the last 7 days of its source with
//! the backtest's replay ([`crate::backtest_core::backtest`], the one replay there is) and
//! keeps the alerts per week in the console's [`LastWeek`] cache. It recomputes a rule
//! after a reload changed or added it, and every rule each [`REFRESH`]; pages only read
//! the cache, so none waits for a replay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::backtest_core::RuleReport;
use crate::clock::SharedClock;
use crate::rule::{Rule, RuleSet, Schedule};
use crate::server::console::last_week::{LastWeek, Week, SPAN};
use crate::server::RulesHandle;
use crate::sources::Source;

/// How old a summary may grow before it is computed again.
pub const REFRESH: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// How often the running rules are compared with the summaries (a reload shows within it).
const LOOK_EVERY: Duration = Duration::from_secs(5);
/// The most evaluations a summary replays (a week of a rule run every 12 s): a rule run
/// more often is left to `driftwatch backtest`, rather than a service spending minutes
/// of CPU on a page's summary.
pub const MAX_EVALUATIONS: usize = 50_400;

/// How many evaluations `rule` makes in `(from, to]`.
fn evaluations(rule: &Rule, from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    match &rule.schedule {
        Schedule::Every(period) => {
            let ms = (period.as_millis() as i64).max(1);
            ((to - from).num_milliseconds() / ms).max(0) as usize
        }
        Schedule::Cron(_) => crate::engine::replay::ticks(&rule.schedule, from, to).len(),
    }
}

/// What the task reads and where it keeps what it found.
pub struct LastWeekTask {
    /// The running rules.
    pub rules: Arc<dyn RulesHandle>,
    /// The sources by name.
    pub sources: HashMap<String, Arc<dyn Source>>,
    /// The clock the replayed week ends at.
    pub clock: SharedClock,
    /// The cache the rules page reads.
    pub cache: Arc<LastWeek>,
}

impl LastWeekTask {
    /// Waits for the rules page to ask, then keeps the summaries current until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = self.cache.wanted() => {}
        }
        loop {
            self.refresh(&shutdown).await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    }

    /// Computes the summaries that are missing, stale or of a changed rule, one rule at
    /// a time, and drops those of removed rules.
    async fn refresh(&self, shutdown: &CancellationToken) {
        let rules = self.rules.rules();
        let names: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        self.cache.retain(&names);
        for rule in self.cache.stale(&rules, self.clock.now(), REFRESH) {
            if shutdown.is_cancelled() {
                return;
            }
            let week = self.replay(&rule).await;
            self.cache.put(rule, week);
        }
    }

    /// Replays `rule` over the week ending now.
    async fn replay(&self, rule: &Arc<Rule>) -> Week {
        let to = self.clock.now();
        let from = crate::time_math::earlier_by(to, SPAN);
        let (alerts, firing_hours, evaluations, problem) = match self.figures(rule, from, to).await
        {
            Ok(report) => (
                report.alerts.len(),
                report.firing_seconds / 3600.0,
                report.evaluations,
                report.skipped,
            ),
            Err(why) => (0, 0.0, 0, Some(why)),
        };
        if let Some(why) = &problem {
            tracing::warn!(rule = %rule.name, why, "last week's backtest has no figure");
        }
        Week {
            alerts,
            firing_hours,
            evaluations,
            problem,
            to,
            computed_at: self.clock.now(),
        }
    }

    /// The backtest report of `rule` over `(from, to]`, or why there is none.
    async fn figures(
        &self,
        rule: &Arc<Rule>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<RuleReport, String> {
        let n = evaluations(rule, from, to);
        if n > MAX_EVALUATIONS {
            return Err(format!(
                "not replayed here: {n} evaluations a week is more than the console replays \
                 ({MAX_EVALUATIONS}); run `driftwatch backtest --rule {}`",
                rule.name
            ));
        }
        let one = RuleSet {
            rules: vec![Arc::clone(rule)],
        };
        let report =
            crate::backtest_core::backtest(&one, &self.sources, from, to, false, &mut |_, _| {})
                .await
                .map_err(|e| format!("cannot read its source: {e}"))?;
        report
            .rules
            .into_iter()
            .next()
            .ok_or_else(|| "nothing was replayed".to_owned())
    }
}
