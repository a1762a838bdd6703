//! One budget's running state, without I/O: the spend ledger and what to read next, the
//! learnt shape, the alerts. The live task, `budget status` and backtests all drive this
//! one type, so what a backtest says is what the service would have done.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::budget::alert::BudgetAlerts;
use crate::budget::burn::SLOW;
use crate::budget::period::{Bounds, Period};
use crate::budget::settings::Budget;
use crate::budget::shape::{Shape, LEARN_SPAN};
use crate::budget::spend::SpendLedger;
use crate::budget::status::{judge, BudgetStatus};
use crate::engine::{Alert, Transition};
use crate::model::AlertState;
use crate::sources::Observation;
use crate::sources::RuleQuery;

/// How far back every evaluation reads again, so late rows are counted.
pub const REREAD: Duration = Duration::hours(6);
/// How often the whole range is read again (late rows older than [`REREAD`]).
pub const FULL_READ_EVERY: Duration = Duration::hours(24);

/// What a budget keeps across restarts besides its alerts (which the alerts table
/// holds): the shape it learnt and for which local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    /// The start (unix ms) of the local day the shape was learnt for.
    pub shape_day: i64,
    /// The shape.
    pub shape: Shape,
}

/// One budget's runtime.
#[derive(Debug, Clone)]
pub struct BudgetRuntime {
    /// The budget.
    pub budget: Arc<Budget>,
    /// Spend read so far.
    pub ledger: SpendLedger,
    /// The shape, and the local day (start, unix ms) it was learnt for.
    pub shape: Option<(i64, Shape)>,
    /// Its alerts.
    pub alerts: BudgetAlerts,
    /// When the whole range was last read.
    full_read_at: Option<DateTime<Utc>>,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone)]
pub struct BudgetOutcome {
    /// Every group's status.
    pub statuses: Vec<BudgetStatus>,
    /// Alert state changes.
    pub transitions: Vec<Transition>,
    /// Alerts to store: changed, pending or firing.
    pub alerts: Vec<Alert>,
    /// The state to save, when the shape was learnt anew.
    pub saved: Option<SavedState>,
}

/// An empty ledger for `budget`'s rows: a counter's increases are sums over a scrape
/// interval, not single spends, so no per-row cost level is kept for them.
fn fresh_ledger(budget: &Budget) -> SpendLedger {
    match budget.query {
        RuleQuery::Increase { .. } => SpendLedger::of_counter(),
        _ => SpendLedger::new(),
    }
}

impl BudgetRuntime {
    /// A fresh runtime.
    pub fn new(budget: Arc<Budget>) -> Self {
        Self {
            ledger: fresh_ledger(&budget),
            budget,
            shape: None,
            alerts: BudgetAlerts::default(),
            full_read_at: None,
        }
    }

    /// Resumes from stored alerts and saved state.
    pub fn restore(&mut self, alerts: Vec<Alert>, saved: Option<SavedState>) {
        self.alerts = BudgetAlerts::restore(alerts);
        self.shape = saved.map(|s| (s.shape_day, s.shape));
    }

    /// The same budget's runtime for an edited budget: alerts kept (a fingerprint depends
    /// on the name and group only), spend and shape read again, so a new amount or label
    /// set is judged on the spend so far.
    pub fn edited(self, budget: Arc<Budget>) -> Self {
        let mut next = BudgetRuntime::new(budget);
        next.alerts = self.alerts;
        next
    }

    /// The earliest instant an evaluation at `now` needs: the shape's learning span
    /// before today, and the slow-burn window before the period.
    fn horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let b = &self.budget;
        let day = Bounds::containing(Period::Day, b.timezone, now);
        let period = Bounds::containing(b.period, b.timezone, now);
        (day.start - LEARN_SPAN).min(period.start - SLOW.long)
    }

    /// The range to read before evaluating at `now`: everything the first time and once
    /// a day, else the last [`REREAD`].
    pub fn fetch_range(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let horizon = self.horizon(now);
        match self.full_read_at {
            Some(at) if now - at < FULL_READ_EVERY => ((now - REREAD).max(horizon), now),
            _ => (horizon, now),
        }
    }

    /// Takes in the rows read for `(after, until]`.
    pub fn ingest(&mut self, after: DateTime<Utc>, until: DateTime<Utc>, rows: &[Observation]) {
        let horizon = self.horizon(until);
        if after <= horizon {
            self.ledger = fresh_ledger(&self.budget);
            self.full_read_at = Some(until);
        }
        self.ledger
            .replace(after, until, rows, &self.budget.group_names());
        self.ledger.trim(horizon);
    }

    /// Judges the budget at `now`: relearns the shape on a new local day, judges every
    /// group, advances the alerts.
    pub fn evaluate(&mut self, now: DateTime<Utc>) -> BudgetOutcome {
        let b = Arc::clone(&self.budget);
        let day = Bounds::containing(Period::Day, b.timezone, now).key();
        let mut saved = None;
        let shape = match &self.shape {
            Some((d, s)) if *d == day => s.clone(),
            _ => {
                let day_start = DateTime::from_timestamp_millis(day).unwrap_or(now);
                let s = Shape::learn(&self.ledger, day_start, b.timezone);
                self.shape = Some((day, s.clone()));
                saved = Some(SavedState {
                    shape_day: day,
                    shape: s.clone(),
                });
                s
            }
        };
        let names = b.group_names();
        let known: Vec<_> = self
            .alerts
            .groups()
            .into_iter()
            .filter(|g| crate::budget::alert::same_names(g, &names))
            .collect();
        let statuses = judge(&b, &self.ledger, &shape, now, &known);
        let transitions = self.alerts.apply(&b, &statuses, now);
        // What changed (the alerts a changed label set dropped included), then every
        // other pending or firing alert.
        let mut alerts: Vec<Alert> = transitions.iter().map(|t| t.alert.clone()).collect();
        alerts.extend(
            self.alerts
                .alerts
                .values()
                .filter(|a| {
                    !transitions
                        .iter()
                        .any(|t| t.alert.fingerprint == a.fingerprint)
                })
                .filter(|a| matches!(a.state, AlertState::Pending | AlertState::Firing))
                .cloned(),
        );
        BudgetOutcome {
            statuses,
            transitions,
            alerts,
            saved,
        }
    }
}
