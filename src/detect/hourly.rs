//! A compact hour-of-day profile: what a series usually looks like at this hour (UTC), in
//! 24 slots of (mean, visits) and one shared residual spread, for judging a value in its
//! daily context (a daily peak that does not come is news, a daily peak that does is not).

use serde::{Deserialize, Serialize};

use crate::detect::compact::ShortF32;
use crate::detect::moments::{alpha_for_half_life, Ewma};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Days of data, and visits of a slot, before the profile judges that slot.
const MIN_DAYS: i64 = 3;
/// Memory of a slot's mean, in days.
const SLOT_HALF_LIFE_DAYS: f64 = 3.0;
/// Memory of the residual spread, in samples.
const RESIDUAL_HALF_LIFE: f64 = 2000.0;
/// The residual spread's smoothing factor, computed once (a `powf` per sample otherwise).
static RESIDUAL_ALPHA: std::sync::LazyLock<f64> =
    std::sync::LazyLock::new(|| alpha_for_half_life(RESIDUAL_HALF_LIFE));
/// Residuals seen before the spread is trusted.
const MIN_RESIDUALS: u64 = 10;

/// The profile (about 450 bytes as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HourOfDayProfile {
    /// (mean, visits) per hour of the day, UTC.
    slots: [(ShortF32, u32); 24],
    /// Residuals from the slot means (their root mean square is the spread).
    residual: Ewma,
    /// The day of the first sample (days since the epoch).
    first_day: Option<i64>,
}

fn slot(ts_ms: i64) -> usize {
    ts_ms.div_euclid(HOUR_MS).rem_euclid(24) as usize
}

impl HourOfDayProfile {
    fn days_seen(&self, ts_ms: i64) -> i64 {
        self.first_day
            .map(|first| ts_ms.div_euclid(DAY_MS) - first)
            .unwrap_or(0)
    }

    /// (usual value at this hour, spread of values around their hour's usual value), once
    /// the profile has seen enough days and enough of this hour.
    pub fn expect(&self, ts_ms: i64) -> Option<(f64, f64)> {
        let (mean, visits) = *self.slots.get(slot(ts_ms))?;
        let ready = self.days_seen(ts_ms) >= MIN_DAYS
            && i64::from(visits) >= MIN_DAYS
            && self.residual.n >= MIN_RESIDUALS;
        let r = &self.residual;
        ready.then(|| (mean.get(), (r.var + r.mean * r.mean).max(0.0).sqrt()))
    }

    /// Learns one sample.
    pub fn learn(&mut self, ts_ms: i64, x: f64) {
        let first = *self.first_day.get_or_insert(ts_ms.div_euclid(DAY_MS));
        let days = (ts_ms.div_euclid(DAY_MS) - first + 1).max(1) as f64;
        let Some((mean, visits)) = self.slots.get_mut(slot(ts_ms)) else {
            return;
        };
        if *visits > 0 {
            self.residual.add(x - mean.get(), *RESIDUAL_ALPHA);
        }
        *visits = visits.saturating_add(1);
        let per_day = f64::from(*visits) / days;
        let alpha =
            alpha_for_half_life(SLOT_HALF_LIFE_DAYS * per_day).max(1.0 / f64::from(*visits));
        mean.0 += (alpha * (x - mean.get())) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_each_hour_and_judges_after_three_days() {
        let mut p = HourOfDayProfile::default();
        let every = 5 * 60_000;
        let value = |t: i64| if slot(t) == 12 { 50.0 } else { 10.0 };
        for i in 0..(2 * DAY_MS / every) {
            let t = i * every;
            p.learn(t, value(t));
        }
        assert!(
            p.expect(2 * DAY_MS + 12 * HOUR_MS).is_none(),
            "two days are too few"
        );
        for i in (2 * DAY_MS / every)..(4 * DAY_MS / every) {
            let t = i * every;
            p.learn(t, value(t));
        }
        let (noon, spread) = p.expect(4 * DAY_MS + 12 * HOUR_MS).unwrap();
        let (night, _) = p.expect(4 * DAY_MS + 3 * HOUR_MS).unwrap();
        assert!((noon - 50.0).abs() < 0.5 && (night - 10.0).abs() < 0.5);
        assert!(spread < 1.0, "{spread}");
    }
}
