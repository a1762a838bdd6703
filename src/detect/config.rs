//! How baseline detectors are written in rules, and their defaults per kind.

use serde::{Deserialize, Serialize};

use crate::detect::judge::{Direction, Judge};
use crate::types::DurationSpec;

/// Options of the baseline detectors (`zscore`, `ewma`, `mad`, `quantile`, `seasonal`,
/// `changepoint`). Each kind uses the options that apply to it; `check` names the others.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Which deviations count: `up`, `down` or `both` (default `both`).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// How many (robust) standard deviations make an anomaly.
    #[serde(default)]
    pub sigmas: Option<f64>,
    /// zscore: the rolling time window (default 7d).
    #[serde(default)]
    pub window: Option<DurationSpec>,
    /// ewma, mad, quantile, changepoint: memory, as the number of samples after which a
    /// sample's weight has halved.
    #[serde(default)]
    pub half_life: Option<f64>,
    /// quantile: the quantile that bounds normal values (default 0.99).
    #[serde(default)]
    pub quantile: Option<f64>,
    /// Samples to see before judging.
    #[serde(default)]
    pub warmup: Option<u64>,
    /// Smallest absolute deviation worth an alert (a 3σ jump from 0.1 s to 0.2 s is not).
    #[serde(default)]
    pub min_abs_deviation: Option<f64>,
    /// Smallest deviation relative to the baseline centre worth an alert (0.2 = 20 %).
    #[serde(default)]
    pub min_rel_deviation: Option<f64>,
    /// Let anomalous values into the baseline (default false: they are kept out).
    #[serde(default)]
    pub learn_anomalies: Option<bool>,
    /// After this many anomalous samples in a row, accept the new level (re-baseline)
    /// instead of alarming forever.
    #[serde(default)]
    pub relearn_after: Option<u64>,
    /// seasonal: `daily` (hour of day) or `weekly` (hour of week).
    #[serde(default)]
    pub season: Option<Season>,
    /// seasonal: how many times each hour must have been seen before judging (default 3).
    #[serde(default)]
    pub min_seasons: Option<u64>,
    /// changepoint: the slack per sample in standard deviations (default 0.5).
    #[serde(default)]
    pub drift: Option<f64>,
    /// Judge `ln(1 + x)` instead of `x` for positive, long-tailed metrics.
    #[serde(default)]
    pub log: Option<bool>,
    /// How rare a deviation must be among this series' own past deviations (default
    /// 0.999; 0 turns it off). Series differ in tail by orders of magnitude: a spike that
    /// a spiky series shows every day is not news, while the same σ on a calm one is.
    #[serde(default)]
    pub rarity: Option<f64>,
}

/// Problems with `min_abs_deviation` and `min_rel_deviation`: each, when given, is a
/// finite number of at least 0 (a negative floor would let every deviation through).
pub fn deviation_floor_problems(min_abs: Option<f64>, min_rel: Option<f64>) -> Vec<String> {
    [
        ("min_abs_deviation", min_abs),
        ("min_rel_deviation", min_rel),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let v = value?;
        (!(v >= 0.0 && v.is_finite()))
            .then(|| format!("`{name}` {v}: expected a number of at least 0"))
    })
    .collect()
}

/// The period of a seasonal profile.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Season {
    /// 24 hourly slots.
    #[default]
    Daily,
    /// 168 hourly slots.
    Weekly,
}

/// The baseline kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exact rolling mean/variance over a time window.
    Zscore,
    /// Exponentially weighted mean/variance.
    Ewma,
    /// Robust median/MAD from a decaying sketch.
    Mad,
    /// Rolling quantile from a decaying sketch.
    Quantile,
    /// Hour-of-day / hour-of-week profile.
    Seasonal,
    /// CUSUM change-point detection.
    Changepoint,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Zscore => "zscore",
            Kind::Ewma => "ewma",
            Kind::Mad => "mad",
            Kind::Quantile => "quantile",
            Kind::Seasonal => "seasonal",
            Kind::Changepoint => "changepoint",
        }
    }

    fn default_sigmas(self) -> f64 {
        match self {
            Kind::Zscore | Kind::Ewma | Kind::Seasonal => 4.0,
            Kind::Mad => 5.0,
            Kind::Quantile => 0.0,
            Kind::Changepoint => 8.0,
        }
    }
}

impl BaselineConfig {
    /// Problems with the options for `kind`.
    pub fn validate(&self, kind: Kind) -> Vec<String> {
        let mut errs = Vec::new();
        let only = |set: bool, name: &str, kinds: &[Kind], errs: &mut Vec<String>| {
            if set && !kinds.contains(&kind) {
                let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
                errs.push(format!(
                    "`{name}` applies to kind {} only, not {}",
                    names.join("/"),
                    kind.name()
                ));
            }
        };
        only(self.window.is_some(), "window", &[Kind::Zscore], &mut errs);
        only(
            self.half_life.is_some(),
            "half_life",
            &[Kind::Ewma, Kind::Mad, Kind::Quantile, Kind::Changepoint],
            &mut errs,
        );
        only(
            self.quantile.is_some(),
            "quantile",
            &[Kind::Quantile],
            &mut errs,
        );
        only(
            self.season.is_some(),
            "season",
            &[Kind::Seasonal],
            &mut errs,
        );
        only(
            self.min_seasons.is_some(),
            "min_seasons",
            &[Kind::Seasonal],
            &mut errs,
        );
        only(
            self.drift.is_some(),
            "drift",
            &[Kind::Changepoint],
            &mut errs,
        );
        only(
            self.sigmas.is_some(),
            "sigmas",
            &[
                Kind::Zscore,
                Kind::Ewma,
                Kind::Mad,
                Kind::Seasonal,
                Kind::Changepoint,
            ],
            &mut errs,
        );
        if let Some(r) = self.rarity {
            if !(0.0..1.0).contains(&r) {
                errs.push(format!("`rarity` {r}: expected at least 0 and below 1"));
            }
        }
        if let Some(q) = self.quantile {
            if !(0.5..1.0).contains(&q) {
                errs.push(format!("`quantile` {q}: expected at least 0.5 and below 1"));
            }
        }
        // Written so that NaN fails each test: every comparison with NaN is false.
        if self.sigmas.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
            errs.push("`sigmas` must be a positive number".into());
        }
        if self.half_life.is_some_and(|h| !(h >= 1.0 && h.is_finite())) {
            errs.push("`half_life` must be at least 1 sample".into());
        }
        errs.extend(deviation_floor_problems(
            self.min_abs_deviation,
            self.min_rel_deviation,
        ));
        if self.drift.is_some_and(|d| !(d >= 0.0 && d.is_finite())) {
            errs.push("`drift` must be a number of at least 0".into());
        }
        if self.window.is_some_and(|w| w.get().is_zero()) {
            errs.push("`window` must be longer than 0s".into());
        }
        errs
    }

    /// The judging rules with this kind's defaults filled in.
    pub fn judge(&self, kind: Kind) -> Judge {
        Judge {
            direction: self.direction.unwrap_or_default(),
            sigmas: self.sigmas.unwrap_or(kind.default_sigmas()),
            min_abs: self.min_abs_deviation.unwrap_or(0.0),
            min_rel: self.min_rel_deviation.unwrap_or(0.0),
            warmup: self.warmup.unwrap_or(30),
        }
    }

    /// Consecutive anomalies before the new level is accepted.
    pub fn relearn_after(&self) -> u64 {
        self.relearn_after.unwrap_or(30)
    }

    /// The value the baseline sees (log-transformed when asked).
    pub fn transform(&self, x: f64) -> f64 {
        if self.log.unwrap_or(false) {
            x.max(0.0).ln_1p()
        } else {
            x
        }
    }

    /// Back from the transformed scale, for reporting centres and bands.
    pub fn untransform(&self, y: f64) -> f64 {
        if self.log.unwrap_or(false) {
            y.exp_m1()
        } else {
            y
        }
    }
}
