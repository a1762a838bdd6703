//! How baseline detectors are written in rules, and their validated spec with the
//! defaults per kind resolved.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detect::baselines::QuantileBaseline;
use crate::detect::changepoint::ChangepointSpec;
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

    /// The spec of a baseline kind (not `changepoint`), this kind's defaults resolved:
    /// direction both, sigmas per kind (quantile: the quantile's own), warm-up 30
    /// samples, rarity 0.999, relearn after 30; window 7d (zscore), half-life 60 (ewma),
    /// 1000 (mad), 2000 (quantile), quantile 0.99, a daily season seen 3 times.
    pub(crate) fn spec(&self, kind: Kind) -> BaselineSpec {
        let model = match kind {
            Kind::Zscore => BaselineModel::Rolling {
                window: self
                    .window
                    .map(|w| w.get())
                    .unwrap_or(Duration::from_secs(7 * 86_400)),
            },
            Kind::Ewma => BaselineModel::Ewma {
                half_life: self.half_life.unwrap_or(60.0),
            },
            // Changepoint is not a baseline kind; its spec is `changepoint_spec`.
            Kind::Mad | Kind::Changepoint => BaselineModel::Mad {
                half_life: self.half_life.unwrap_or(1000.0),
            },
            Kind::Quantile => BaselineModel::Quantile {
                quantile: self.quantile.unwrap_or(0.99),
                half_life: self.half_life.unwrap_or(2000.0),
            },
            Kind::Seasonal => BaselineModel::Seasonal {
                season: self.season.unwrap_or_default(),
                min_seasons: self.min_seasons.unwrap_or(3),
            },
        };
        let sigmas = match model {
            // A normal's band at the quantile: the quantile baseline's spread is scaled so.
            BaselineModel::Quantile { quantile, .. } => QuantileBaseline::sigmas(quantile),
            _ => self.sigmas.unwrap_or(kind.default_sigmas()),
        };
        BaselineSpec {
            judge: Judge {
                direction: self.direction.unwrap_or_default(),
                sigmas,
                min_abs: self.min_abs_deviation.unwrap_or(0.0),
                min_rel: self.min_rel_deviation.unwrap_or(0.0),
                warmup: self.warmup.unwrap_or(30),
            },
            rarity: self.rarity.unwrap_or(0.999),
            relearn_after: self.relearn_after.unwrap_or(30),
            learn_anomalies: self.learn_anomalies.unwrap_or(false),
            log: self.log.unwrap_or(false),
            model,
        }
    }

    /// The spec of a `changepoint` detector, its defaults resolved: direction both,
    /// threshold 8σ, half-life 200, warm-up 30 samples, slack 0.5σ.
    pub(crate) fn changepoint_spec(&self) -> ChangepointSpec {
        ChangepointSpec {
            direction: self.direction.unwrap_or_default(),
            sigmas: self.sigmas.unwrap_or(Kind::Changepoint.default_sigmas()),
            half_life: self.half_life.unwrap_or(200.0),
            warmup: self.warmup.unwrap_or(30),
            drift: self.drift.unwrap_or(0.5),
            min_abs: self.min_abs_deviation.unwrap_or(0.0),
            min_rel: self.min_rel_deviation.unwrap_or(0.0),
            log: self.log.unwrap_or(false),
        }
    }
}

/// A validated baseline detector (`zscore`, `ewma`, `mad`, `quantile`, `seasonal`), every
/// default resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineSpec {
    /// The judging rules (quantile: sigmas that put the band at its quantile).
    pub judge: Judge,
    /// The rarity test's quantile (0: off).
    pub rarity: f64,
    /// Consecutive anomalies before the new level is accepted.
    pub relearn_after: u64,
    /// Let anomalous values into the baseline.
    pub learn_anomalies: bool,
    /// Judge `ln(1 + x)` instead of `x`.
    pub log: bool,
    /// Which baseline, with its own settings.
    pub model: BaselineModel,
}

/// The baseline a [`BaselineSpec`] learns, with its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BaselineModel {
    /// `zscore`: exact mean/variance over a rolling time window.
    Rolling {
        /// The window.
        window: Duration,
    },
    /// `ewma`: exponentially weighted mean/variance.
    Ewma {
        /// Memory in samples.
        half_life: f64,
    },
    /// `mad`: median and MAD from a decaying sketch.
    Mad {
        /// Memory in samples.
        half_life: f64,
    },
    /// `quantile`: a band at a quantile from a decaying sketch.
    Quantile {
        /// The quantile that bounds normal values.
        quantile: f64,
        /// Memory in samples.
        half_life: f64,
    },
    /// `seasonal`: an hour-of-day or hour-of-week profile.
    Seasonal {
        /// Daily or weekly.
        season: Season,
        /// Times each hour must have been seen before judging.
        min_seasons: u64,
    },
}
