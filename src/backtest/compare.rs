//! Compares two backtests of the same history: alerts gained, lost, and shifted.

use serde::Serialize;

use crate::backtest::{AlertSpan, BacktestReport};

/// How far apart two starts may be and still be "the same alert, shifted".
const SAME_ALERT: chrono::Duration = chrono::Duration::hours(1);

/// The differences between an old and a new rule set's alerts.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Comparison {
    /// Alerts only the new rules raise.
    pub gained: Vec<AlertSpan>,
    /// Alerts only the old rules raised.
    pub lost: Vec<AlertSpan>,
    /// (old, new) pairs of the same rule and labels whose start moved.
    pub shifted: Vec<(AlertSpan, AlertSpan)>,
    /// Alerts both raise at the same time.
    pub unchanged: usize,
}

/// Pairs each old alert with the nearest new alert of the same rule and fingerprint.
pub fn compare(old: &BacktestReport, new: &BacktestReport) -> Comparison {
    let all = |r: &BacktestReport| -> Vec<AlertSpan> {
        r.rules
            .iter()
            .flat_map(|r| r.alerts.iter().cloned())
            .collect()
    };
    let old_alerts = all(old);
    let mut new_alerts: Vec<Option<AlertSpan>> = all(new).into_iter().map(Some).collect();
    let mut out = Comparison::default();
    for a in old_alerts {
        let best = new_alerts
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
            .filter(|(_, n)| n.rule == a.rule && n.fingerprint == a.fingerprint)
            .map(|(i, n)| (i, (n.start - a.start).abs()))
            .filter(|(_, d)| *d <= SAME_ALERT)
            .min_by_key(|(_, d)| *d);
        match best {
            Some((i, d)) => {
                let n = new_alerts[i].take().expect("present");
                if d.is_zero() {
                    out.unchanged += 1;
                } else {
                    out.shifted.push((a, n));
                }
            }
            None => out.lost.push(a),
        }
    }
    out.gained = new_alerts.into_iter().flatten().collect();
    out
}
