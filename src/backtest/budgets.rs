//! The budgets' part of `driftwatch backtest`: each budget in the rules directory
//! replayed over the range through the service's own budget runtime, with when each of
//! its alerts would have fired and how far each day's forecast was from the period's
//! real spend.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::budget::replay::{replay, BudgetReplay};
use crate::budget::Budget;
use crate::sources::Source;
use crate::{Error, Result};

/// Replays every budget (only `only`, when it names one) over `(from, to]`.
pub async fn replay_budgets(
    budgets: &[Arc<Budget>],
    sources: &std::collections::HashMap<String, Arc<dyn Source>>,
    only: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<BudgetReplay>> {
    let mut out = Vec::new();
    for b in budgets.iter().filter(|b| only.is_none_or(|n| n == b.name)) {
        let source = sources
            .get(&b.source)
            .ok_or_else(|| Error::Other(format!("budget {}: no source {:?}", b.name, b.source)))?;
        let r = replay(Arc::clone(b), source.as_ref(), from, to)
            .await
            .map_err(|e| Error::Other(format!("budget {}: {e}", b.name)))?;
        out.push(r);
    }
    Ok(out)
}

/// The replays as a readable table.
pub fn render_budgets(replays: &[BudgetReplay], budgets: &[Arc<Budget>]) -> String {
    let mut s = String::new();
    for r in replays {
        let Some(b) = budgets.iter().find(|b| b.name == r.budget) else {
            continue;
        };
        let _ = writeln!(
            s,
            "\nbudget {} ({} per {}, {}): {} evaluations, {} alert(s)",
            b.name,
            b.unit.format(b.amount),
            b.period.as_str(),
            b.timezone.name(),
            r.evaluations,
            r.alerts.len()
        );
        for a in &r.alerts {
            let end = a.end.map_or("still firing".to_owned(), |e| {
                e.format("%Y-%m-%d %H:%M").to_string()
            });
            let _ = writeln!(
                s,
                "  {:<10} {:<24} {} → {}  {}",
                a.kind,
                a.group.to_string(),
                a.start.format("%Y-%m-%d %H:%M"),
                end,
                a.summary
            );
        }
        if r.forecasts.is_empty() {
            let _ = writeln!(s, "  forecast error: no period ended inside the range");
            continue;
        }
        let _ = writeln!(
            s,
            "  forecast error at the start of each day of the period (forecast − actual) / actual:"
        );
        for f in &r.forecasts {
            let _ = writeln!(
                s,
                "    {} day {:>2} {:<24} forecast {} (80 %: {}–{}), actual {}: {:+.1} %",
                f.period_start.format("%Y-%m-%d"),
                f.day,
                f.group.to_string(),
                b.unit.format(f.expected),
                b.unit.format(f.low),
                b.unit.format(f.high),
                b.unit.format(f.actual),
                f.error * 100.0
            );
        }
    }
    s
}
