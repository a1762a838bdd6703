//! The baseline detectors: one generic judge-and-learn loop over interchangeable
//! baselines (exact rolling window, EWMA, robust sketch, quantile sketch, seasonal
//! profile), persisted as JSON snapshots.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::detect::config::{BaselineConfig, BaselineSpec, Kind, Season};
use crate::detect::judge::{sigma_reason, Deviation, Judge};
use crate::detect::moments::{alpha_for_half_life, Ewma, WindowMoments};
use crate::detect::packed::{get_uvarint, put_uvarint};
use crate::detect::sketch::DecayingSketch;
use crate::detect::{DetectError, Detector, Verdict};

/// A baseline: what is normal so far, updated one sample at a time.
pub trait Baseline: Serialize + DeserializeOwned + Send + 'static {
    /// (centre, spread, samples behind it, Student-t dof) before `x` is learnt.
    fn expect(&mut self, ts_ms: i64) -> Option<(f64, f64, u64, Option<f64>)>;
    /// Learns one sample.
    fn learn(&mut self, ts_ms: i64, x: f64);
    /// A short name for reasons: "7-day baseline", "hour-of-day profile".
    fn name(&self) -> String;
    /// Appends to `out` what changed since the last call and returns true, for a base
    /// with a delta form much smaller than itself; false (nothing appended) otherwise.
    fn delta(&mut self, out: &mut Vec<u8>) -> bool {
        let _ = out;
        false
    }
    /// Applies bytes written by [`Baseline::delta`]; None when they cannot be read.
    fn apply_delta(&mut self, bytes: &[u8]) -> Option<()> {
        let _ = bytes;
        None
    }
}

/// Runs a baseline: judge against it, then learn (anomalies kept out unless they
/// persist long enough to be the new normal).
#[derive(Serialize, Deserialize)]
pub struct BaselineDetector<B> {
    #[serde(skip, default = "default_settings")]
    settings: Settings,
    base: B,
    streak: u64,
    /// The series' own past deviations (in σ), for the rarity test.
    tail: DecayingSketch,
    /// The baseline took in an anomalous stretch as the new normal (`relearn_after`)
    /// and the values have not been anomalous since: a recovery says so instead of
    /// reading as "back within the baseline".
    #[serde(default)]
    accepted: bool,
}

/// What a baseline detector reads of its spec per sample: one cache line (64 bytes)
/// instead of the whole [`BaselineSpec`] in every series (a tick over 100,000 series is
/// memory-bound).
#[derive(Debug, Clone, Copy)]
struct Settings {
    judge: Judge,
    /// [`Judge::needed`], computed once.
    needed: f64,
    /// The rarity test's quantile (0: off).
    rarity: f64,
    /// [`BaselineSpec::relearn_after`], saturated: 32 bits keep the struct in a line.
    relearn_after: u32,
    learn_anomalies: bool,
    /// Judge `ln(1 + x)`.
    log: bool,
}

impl Settings {
    fn new(spec: &BaselineSpec) -> Self {
        Self {
            judge: spec.judge,
            needed: spec.judge.needed(),
            rarity: spec.rarity,
            relearn_after: u32::try_from(spec.relearn_after).unwrap_or(u32::MAX),
            learn_anomalies: spec.learn_anomalies,
            log: spec.log,
        }
    }

    /// The value the baseline sees (log-transformed when asked).
    fn transform(&self, x: f64) -> f64 {
        if self.log {
            x.max(0.0).ln_1p()
        } else {
            x
        }
    }

    /// Back from the transformed scale, for reporting centres and bands.
    fn untransform(&self, y: f64) -> f64 {
        if self.log {
            y.exp_m1()
        } else {
            y
        }
    }
}

const _: () = assert!(std::mem::size_of::<Settings>() <= 64);

fn default_settings() -> Settings {
    Settings::new(&BaselineConfig::default().spec(Kind::Zscore))
}

impl<B: Baseline> BaselineDetector<B> {
    /// Wraps a fresh baseline.
    pub fn new(spec: &BaselineSpec, base: B) -> Self {
        Self {
            settings: Settings::new(spec),
            base,
            streak: 0,
            tail: DecayingSketch::for_upper_tail(5000.0),
            accepted: false,
        }
    }
}

/// What the rarity test says of one deviation, found before judging it.
#[derive(Debug, Clone, Copy)]
enum Rarity {
    /// The test is off, or the deviation is not a number.
    Off,
    /// The series has not yet seen enough deviations to rank this one.
    Cold,
    /// The share of this series' past deviations at or below this one's bucket.
    Rank(f64),
}

impl<B: Baseline> BaselineDetector<B> {
    /// Ranks a deviation of `t` spreads among the series' past ones, and learns it.
    fn rarity(&mut self, t: f64) -> Rarity {
        if self.settings.rarity <= 0.0 || !t.is_finite() {
            return Rarity::Off;
        }
        let warm = self.tail.n >= self.settings.judge.warmup;
        let rank = self.tail.rank_then_add(t, warm);
        if warm {
            Rarity::Rank(rank)
        } else {
            Rarity::Cold
        }
    }

    /// Applies the rarity test: the deviation must also be rare for this series. It
    /// decides whether an anomalous stretch starts, not whether one goes on: during an
    /// incident the tail fills with the incident's own deviations, and a value still
    /// far outside the band must not read as recovered because it is no longer rare.
    fn calibrate(&self, v: &mut Verdict, rarity: Rarity) {
        if self.streak > 0 {
            return;
        }
        let vetoed = match rarity {
            Rarity::Off => None,
            Rarity::Cold => v.anomalous.then_some(
                "is outside its band, but the series has not yet shown how rare that is",
            ),
            Rarity::Rank(rank) => {
                // The score is how rare the deviation is for this series.
                v.score = v.score.min(rank);
                (v.anomalous && rank < self.settings.rarity)
                    .then_some("is outside its band, but not rarely for this series")
            }
        };
        if let Some(reason) = vetoed {
            v.anomalous = false;
            v.reason = reason.into();
        }
    }

    /// Keeps the "accepted as the new level" record: set when `relearn_after` takes an
    /// anomalous level in, cleared when a new anomalous stretch starts; while it holds, a
    /// normal value's reason names the accepted level.
    #[cold]
    #[inline(never)]
    fn note_acceptance(&mut self, verdict: &mut Verdict, relearn: bool) {
        if verdict.anomalous && self.streak == 1 {
            self.accepted = false;
        }
        self.accepted |= relearn;
        if self.accepted && !verdict.anomalous {
            if let Some(level) = verdict.expected {
                verdict.reason = self.accepted_reason(level);
            }
        }
    }

    /// The reason for a value no longer anomalous after the baseline accepted the
    /// anomalous level: the new level, not a σ figure that still reads as anomalous.
    fn accepted_reason(&self, level: f64) -> std::borrow::Cow<'static, str> {
        format!(
            "is accepted as the new level {} (after {} anomalous samples in a row)",
            crate::detect::threshold::fmt_num(level),
            self.settings.relearn_after
        )
        .into()
    }
}

impl<B: Baseline> Detector for BaselineDetector<B> {
    fn observe(&mut self, ts_ms: i64, value: f64) -> Verdict {
        let settings = self.settings;
        let y = settings.transform(value);
        let verdict = match self.base.expect(ts_ms) {
            Some((center, spread, samples, dof)) => {
                let raw_center = settings.untransform(center);
                let deviation = Deviation {
                    value: y,
                    center,
                    spread,
                    samples,
                    dof,
                    raw: (value, raw_center),
                };
                let floored = spread.max(crate::detect::judge::spread_floor(center));
                let rarity = if samples >= settings.judge.warmup {
                    self.rarity((y - center).abs() / floored)
                } else {
                    Rarity::Off
                };
                let mut v = match rarity {
                    // Below every deviation the series keeps in its tail: the score is 0
                    // whatever the tail probability, so its CDF (most of a sample's cost)
                    // is skipped when the judge could not call the value anomalous anyway.
                    Rarity::Rank(rank)
                        if rank <= 0.0 && settings.judge.clearly_within(&deviation) =>
                    {
                        settings.judge.within(&deviation)
                    }
                    _ => {
                        let mut v = settings
                            .judge
                            .judge_against(settings.needed, deviation, |t| {
                                let spread_raw =
                                    settings.untransform(center + floored) - raw_center;
                                sigma_reason(t, &self.base.name(), raw_center, spread_raw)
                            });
                        self.calibrate(&mut v, rarity);
                        v
                    }
                };
                v.expected = Some(raw_center);
                v.band = v
                    .band
                    .map(|(l, u)| (settings.untransform(l), settings.untransform(u)));
                v
            }
            None => Verdict {
                evidence: 0.0,
                share: None,
                anomalous: false,
                score: 0.0,
                expected: None,
                band: None,
                reason: "is still learning its baseline".into(),
                warming_up: true,
            },
        };
        let mut verdict = verdict;
        self.streak = if verdict.anomalous {
            self.streak + 1
        } else {
            0
        };
        let relearn = self.streak > u64::from(settings.relearn_after);
        // Off the common path (a normal value, no stretch, nothing accepted): the tick
        // over 100,000 series is mostly that path.
        if relearn || self.accepted || self.streak == 1 {
            self.note_acceptance(&mut verdict, relearn);
        }
        if !verdict.anomalous || settings.learn_anomalies || relearn {
            self.base.learn(ts_ms, y);
        }
        verdict
    }

    fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "base": serde_json::to_value(&self.base).unwrap_or_default(),
            "streak": self.streak,
            "tail": serde_json::to_value(&self.tail).unwrap_or_default(),
            "accepted": self.accepted,
        })
    }

    fn snapshot_text(&self) -> String {
        // The same fields as `snapshot`, written by the derived serializer.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The streak, the acceptance and the base's delta. The rarity tail is left to the
    /// whole snapshots written between deltas: it decays over thousands of samples, so
    /// the few a restart may lose of it change no rank that matters.
    fn journal_delta(&mut self, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        put_uvarint(out, self.streak);
        out.push(u8::from(self.accepted));
        if self.base.delta(out) {
            return true;
        }
        out.truncate(start);
        false
    }

    fn apply_delta(&mut self, delta: &[u8]) -> Result<(), DetectError> {
        let cut = || DetectError("baseline delta is cut short".into());
        let mut pos = 0;
        let streak = get_uvarint(delta, &mut pos).ok_or_else(cut)?;
        let accepted = *delta.get(pos).ok_or_else(cut)? != 0;
        self.base.apply_delta(&delta[pos + 1..]).ok_or_else(cut)?;
        self.streak = streak;
        self.accepted = accepted;
        Ok(())
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), DetectError> {
        self.base = serde_json::from_value(state.get("base").cloned().unwrap_or_default())
            .map_err(|e| DetectError(e.to_string()))?;
        self.streak = state.get("streak").and_then(|s| s.as_u64()).unwrap_or(0);
        self.accepted = state
            .get("accepted")
            .and_then(|a| a.as_bool())
            .unwrap_or(false);
        if let Some(tail) = state.get("tail") {
            self.tail =
                serde_json::from_value(tail.clone()).map_err(|e| DetectError(e.to_string()))?;
        }
        Ok(())
    }
}

/// A window's length as reasons name it, in the largest whole unit: "7-day",
/// "30-minute", "36-hour", "90-second".
fn window_name(seconds: f64) -> String {
    let secs = seconds.round().max(1.0) as u64;
    let (unit, size) = [("day", 86_400), ("hour", 3_600), ("minute", 60)]
        .into_iter()
        .find(|(_, size)| secs.is_multiple_of(*size))
        .unwrap_or(("second", 1));
    format!("{}-{unit}", secs / size)
}

/// Exact mean/variance over a sliding time window; Student-t while samples are few.
#[derive(Serialize, Deserialize)]
pub struct RollingBaseline {
    moments: WindowMoments,
    days: f64,
}

impl RollingBaseline {
    /// A window of `window_ms`, in 16 buckets: it slides in sixteenths of its length
    /// (10.5 h for 7 days), which keeps the stored state under 1 KiB.
    pub fn new(window_ms: i64) -> Self {
        Self {
            moments: WindowMoments::new(window_ms, 16),
            days: window_ms as f64 / 86_400_000.0,
        }
    }
}

impl Baseline for RollingBaseline {
    fn expect(&mut self, ts_ms: i64) -> Option<(f64, f64, u64, Option<f64>)> {
        let m = self.moments.get(ts_ms);
        (m.n >= 2.0).then(|| {
            // Prediction interval for one new value: s * sqrt(1 + 1/n), n - 1 dof.
            (
                m.mean,
                m.std() * (1.0 + 1.0 / m.n).sqrt(),
                m.n as u64,
                Some(m.n - 1.0),
            )
        })
    }
    fn learn(&mut self, ts_ms: i64, x: f64) {
        self.moments.add(ts_ms, x);
    }
    fn name(&self) -> String {
        format!("{} baseline", window_name(self.days * 86_400.0))
    }
    fn delta(&mut self, out: &mut Vec<u8>) -> bool {
        self.moments.delta(out);
        true
    }
    fn apply_delta(&mut self, bytes: &[u8]) -> Option<()> {
        self.moments.apply_delta(bytes)
    }
}

/// Exponentially weighted mean/variance.
#[derive(Serialize, Deserialize)]
pub struct EwmaBaseline {
    e: Ewma,
    alpha: f64,
}

impl EwmaBaseline {
    /// With a half-life in samples.
    pub fn new(half_life: f64) -> Self {
        Self {
            e: Ewma::default(),
            alpha: alpha_for_half_life(half_life),
        }
    }
}

impl Baseline for EwmaBaseline {
    fn expect(&mut self, _: i64) -> Option<(f64, f64, u64, Option<f64>)> {
        (self.e.n >= 2).then(|| (self.e.mean, self.e.std(), self.e.n, None))
    }
    fn learn(&mut self, _: i64, x: f64) {
        self.e.add(x, self.alpha);
    }
    fn name(&self) -> String {
        "moving average".into()
    }
}

/// Robust centre and spread: median and 1.4826 × MAD from a decaying sketch.
#[derive(Serialize, Deserialize)]
pub struct MadBaseline {
    sketch: DecayingSketch,
}

impl MadBaseline {
    /// With a half-life in samples.
    pub fn new(half_life: f64) -> Self {
        Self {
            sketch: DecayingSketch::new(half_life),
        }
    }
}

impl Baseline for MadBaseline {
    fn expect(&mut self, _: i64) -> Option<(f64, f64, u64, Option<f64>)> {
        let (m, mad) = self.sketch.median_mad()?;
        Some((m, 1.4826 * mad, self.sketch.n, None))
    }
    fn learn(&mut self, _: i64, x: f64) {
        self.sketch.add(x);
    }
    fn name(&self) -> String {
        "median baseline".into()
    }
}

/// Rolling quantiles: values beyond the q-quantile (and the mirrored lower one) are
/// anomalous; expressed as a spread so the common judge applies.
#[derive(Serialize, Deserialize)]
pub struct QuantileBaseline {
    sketch: DecayingSketch,
    q: f64,
}

impl QuantileBaseline {
    /// Bounding quantile `q`, half-life in samples.
    pub fn new(q: f64, half_life: f64) -> Self {
        Self {
            sketch: DecayingSketch::new(half_life),
            q,
        }
    }

    /// The sigma count that puts a normal's band at quantile `q`.
    pub fn sigmas(q: f64) -> f64 {
        Normal::standard().inverse_cdf(q)
    }
}

impl Baseline for QuantileBaseline {
    fn expect(&mut self, _: i64) -> Option<(f64, f64, u64, Option<f64>)> {
        let m = self.sketch.quantile(0.5)?;
        let hi = self.sketch.quantile(self.q)?;
        let lo = self.sketch.quantile(1.0 - self.q)?;
        let z = Self::sigmas(self.q);
        Some((m, (hi - m).max(m - lo) / z, self.sketch.n, None))
    }
    fn learn(&mut self, _: i64, x: f64) {
        self.sketch.add(x);
    }
    fn name(&self) -> String {
        format!("p{} band around the median", (self.q * 100.0).round())
    }
}

/// One EWMA per hour of the day (or week); judges only hours seen on enough days.
#[derive(Serialize, Deserialize)]
pub struct SeasonalBaseline {
    slots: Vec<(Ewma, u64, i64)>,
    min_seasons: u64,
    alpha: f64,
}

impl SeasonalBaseline {
    /// A profile of `season`, judging slots seen on `min_seasons` distinct days.
    pub fn new(season: Season, min_seasons: u64) -> Self {
        let n = match season {
            Season::Daily => 24,
            Season::Weekly => 168,
        };
        Self {
            slots: vec![(Ewma::default(), 0, i64::MIN); n],
            min_seasons,
            alpha: 1.0 / 7.0,
        }
    }

    fn slot(&self, ts_ms: i64) -> usize {
        let hours = ts_ms.div_euclid(3_600_000);
        // 1970-01-01 was a Thursday: shift so slot 0 is Monday 00:00.
        ((hours + 72).rem_euclid(self.slots.len() as i64)) as usize
    }
}

impl Baseline for SeasonalBaseline {
    fn expect(&mut self, ts_ms: i64) -> Option<(f64, f64, u64, Option<f64>)> {
        let (e, seasons, _) = &self.slots[self.slot(ts_ms)];
        (e.n >= 2).then(|| {
            let samples = if *seasons >= self.min_seasons {
                u64::MAX
            } else {
                0
            };
            (e.mean, e.std(), samples, None)
        })
    }
    fn learn(&mut self, ts_ms: i64, x: f64) {
        let i = self.slot(ts_ms);
        let period = self.slots.len() as i64 * 3_600_000;
        let season = ts_ms.div_euclid(period);
        let (e, seasons, last) = &mut self.slots[i];
        if *last != season {
            *seasons += 1;
            *last = season;
        }
        // Remember about a week of seasons: the weight per sample is spread over every
        // sample the slot gets in that many seasons, so the whole hour counts, not its end.
        let per_season = (e.n + 1) as f64 / (*seasons).max(1) as f64;
        let alpha = (self.alpha / per_season).max(1.0 / (e.n + 1) as f64);
        e.add(x, alpha);
    }
    fn name(&self) -> String {
        if self.slots.len() == 24 {
            "hour-of-day profile"
        } else {
            "hour-of-week profile"
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_named_in_their_largest_whole_unit() {
        let named: Vec<String> = [1_800.0, 3_600.0, 5_400.0, 129_600.0, 604_800.0, 90.0]
            .into_iter()
            .map(window_name)
            .collect();
        assert_eq!(
            named,
            [
                "30-minute",
                "1-hour",
                "90-minute",
                "36-hour",
                "7-day",
                "90-second"
            ]
        );
    }
}
