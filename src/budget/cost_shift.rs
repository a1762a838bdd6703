//! Whether what a single row costs (a call, a run) changed lately, and by what factor: a
//! change-point scan over the hours of the last four weeks on the mean log(cost) of the
//! rows, compared within strata (model, agent, mode) so a change of mix is not taken for
//! a change of price. Spend is a few hundred heavy-tailed costs a day, so a +30 % change
//! takes days to show in its sum; in log(cost) of hundreds of rows it is many standard
//! errors within hours. How far the rows' hours cluster beyond independent draws is
//! measured out of sample (each half-day against the day before it) and widens the test.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::budget::row_cost::{Moments, RowCosts};
use crate::budget::spend::SpendLedger;
use crate::model::Labels;

/// How far back the scan looks.
const SPAN: Duration = Duration::days(28);
/// How many standard errors the newer rows' mean log(cost) must differ from the older
/// ones' to be a change. The scan tries hundreds of splits every minute of a month; the
/// largest of hundreds of correlated normal z's rarely passes 4, so 5 leaves a margin
/// for the rows' tails and for the dispersion being an estimate.
pub const Z_SHIFT: f64 = 5.0;
/// Least hours after a split (half a day: a burst of a few hours is a burn, not a new
/// price) and before it (a day, to know the older level).
const MIN_AFTER: usize = 12;
const MIN_BEFORE: usize = 24;
/// The least spread of log(cost) within a stratum assumed (rows of one identical cost
/// would otherwise make any change infinitely significant).
const MIN_SPREAD: f64 = 0.05;
/// The dispersion (variance of the out-of-sample z's, 1 for independent rows) assumed
/// before the data says otherwise, and how many half-days that assumption weighs.
const PRIOR_DISPERSION: f64 = 2.0;
const PRIOR_BLOCKS: f64 = 4.0;
/// The median of a χ² variable of one degree of freedom: median(z²) / this estimates
/// the variance of z robustly (a block holding a change does not inflate it).
const CHI2_MEDIAN: f64 = 0.4549;

/// A change of the rows' cost level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostShift {
    /// When it began (an hour boundary): rows from then on are the newer level.
    pub at: DateTime<Utc>,
    /// The newer level over the older: exp of the change of mean log(cost).
    pub factor: f64,
    /// The variance of log(`factor`), dispersion included.
    pub log_variance: f64,
    /// Its z (dispersion included).
    pub z: f64,
}

/// The change of `group`'s row cost level as of `now`, if the scan finds one beyond
/// [`Z_SHIFT`]; None where the ledger keeps no row costs (a counter's increases).
pub fn cost_shift(ledger: &SpendLedger, group: &Labels, now: DateTime<Utc>) -> Option<CostShift> {
    let costs = ledger.row_costs()?;
    if !costs.holds(group) {
        return None;
    }
    let (from, _) = ledger.range()?;
    let from = ledger.first_spend().map_or(from, |f| f.max(from));
    let start = (now - SPAN).max(from);
    let first = start.timestamp().div_euclid(3600);
    // The hour holding `now` (hour h holds `(h·1 h, (h+1)·1 h]`).
    let last = (now.timestamp_millis() - 1).div_euclid(3_600_000);
    let n = usize::try_from(last - first + 1).ok()?;
    let strata = Strata::new(costs, group, first, n);
    let dispersion = strata.dispersion();
    let (k, d, var) = strata.best_split(dispersion)?;
    Some(CostShift {
        at: DateTime::from_timestamp((first + k as i64) * 3600, 0)?,
        factor: d.exp(),
        log_variance: dispersion * var,
        z: d / (dispersion * var).sqrt(),
    })
}

/// Per-stratum hourly moments with running totals, for sums over any range of hours.
struct Strata {
    /// `cum[s][k]`: stratum `s`'s rows in hours `0..k`.
    cum: Vec<Vec<Moments>>,
    /// Per stratum, the variance of log(cost) within it over the whole stretch.
    spread: Vec<f64>,
    hours: usize,
}

impl Strata {
    fn new(costs: &RowCosts, group: &Labels, first: i64, hours: usize) -> Self {
        let cum: Vec<Vec<Moments>> = costs
            .hourly(group, first, hours)
            .into_iter()
            .map(|h| {
                let mut c = Vec::with_capacity(hours + 1);
                c.push(Moments::default());
                for m in h {
                    let last = c.last().copied().unwrap_or_default();
                    c.push(last.plus(m));
                }
                c
            })
            .collect();
        let spread = cum
            .iter()
            .map(|c| {
                let total = c.last().copied().unwrap_or_default();
                total.variance().max(MIN_SPREAD * MIN_SPREAD)
            })
            .collect();
        Strata { cum, spread, hours }
    }

    /// Rows of each stratum in hours `a..b`.
    fn range(&self, a: usize, b: usize) -> impl Iterator<Item = Moments> + '_ {
        self.cum.iter().map(move |c| {
            let at = |i: usize| c.get(i).copied().unwrap_or_default();
            at(b).minus(at(a))
        })
    }

    /// The change of mean log(cost) from hours `a..b` to `b..c`, weighing each stratum by
    /// its precision, and that change's variance for independent rows.
    fn shift(&self, a: usize, b: usize, c: usize) -> Option<(f64, f64)> {
        let (mut wd, mut w) = (0.0, 0.0);
        for ((older, newer), v) in self.range(a, b).zip(self.range(b, c)).zip(&self.spread) {
            if older.n < 1.0 || newer.n < 1.0 {
                continue;
            }
            let weight = 1.0 / (v * (1.0 / older.n + 1.0 / newer.n));
            wd += weight * (newer.mean() - older.mean());
            w += weight;
        }
        (w > 0.0).then(|| (wd / w, 1.0 / w))
    }

    /// How much more the shift of a half-day against the day before it varies than
    /// independent rows would make it: the robust variance of those z's, from every
    /// half-day the stretch holds, pooled with [`PRIOR_DISPERSION`]; at least 1.
    fn dispersion(&self) -> f64 {
        let mut sq: Vec<f64> = Vec::new();
        let mut end = self.hours;
        while end >= MIN_AFTER + MIN_BEFORE {
            let split = end - MIN_AFTER;
            if let Some((d, var)) = self.shift(split - MIN_BEFORE, split, end) {
                sq.push(d * d / var);
            }
            end -= MIN_AFTER;
        }
        sq.sort_by(f64::total_cmp);
        let Some(median) = sq.get(sq.len() / 2).copied() else {
            return PRIOR_DISPERSION;
        };
        let m = sq.len() as f64;
        ((m * median / CHI2_MEDIAN + PRIOR_BLOCKS * PRIOR_DISPERSION) / (m + PRIOR_BLOCKS)).max(1.0)
    }

    /// The split (hours from it on are the newer level) whose change has the largest z
    /// beyond [`Z_SHIFT`], with the change of mean log(cost) and its variance before
    /// `dispersion`.
    fn best_split(&self, dispersion: f64) -> Option<(usize, f64, f64)> {
        let n = self.hours;
        let mut best: Option<(usize, f64, f64, f64)> = None;
        for k in MIN_BEFORE..=n.saturating_sub(MIN_AFTER) {
            let Some((d, var)) = self.shift(0, k, n) else {
                continue;
            };
            let z = d.abs() / (dispersion * var).sqrt();
            if z > Z_SHIFT && best.is_none_or(|(_, _, _, b)| z > b) {
                best = Some((k, d, var, z));
            }
        }
        best.map(|(k, d, var, _)| (k, d, var))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::test_support::calls;

    #[test]
    fn every_row_costing_a_third_more_is_a_shift_and_ordinary_rows_are_not() {
        let start: DateTime<Utc> = "2026-02-01T00:00:00Z".parse().unwrap();
        let now = start + Duration::days(12);
        let steady = calls(start, 12 * 24, 40, |_| 1.0);
        assert_eq!(cost_shift(&steady, &Labels::new(), now), None);
        // From 10:00 on day 11, a third more per row.
        let change = 24 * 10 + 10;
        let dearer = calls(start, 12 * 24, 40, |h| if h >= change { 1.32 } else { 1.0 });
        let s = cost_shift(&dearer, &Labels::new(), now).expect("a shift");
        // Forty rows an hour place the change within hours, not to the hour.
        let off = (s.at - (start + Duration::hours(change))).num_hours();
        assert!(off.abs() <= 6, "{s:?}");
        let error = (s.factor.ln() - 1.32f64.ln()).abs();
        assert!(error < 3.0 * s.log_variance.sqrt(), "{s:?}");
        // A counter's ledger keeps no row costs.
        assert_eq!(
            cost_shift(&SpendLedger::of_counter(), &Labels::new(), now),
            None
        );
    }
}
