//! A validated detector, [`DetectorSpec`]: what a rule's `detector = { ... }` table
//! ([`DetectorConfig`]) says once it has been checked and every default resolved. Only a
//! spec builds detector instances, so each kind's defaults are applied in one place (its
//! `spec` function, beside its options) and nowhere else.

use std::time::Duration;

use crate::detect::baselines::{
    BaselineDetector, EwmaBaseline, MadBaseline, QuantileBaseline, RollingBaseline,
    SeasonalBaseline,
};
use crate::detect::binomial::{BinomialDetector, BinomialSpec};
use crate::detect::changepoint::{ChangepointDetector, ChangepointSpec};
use crate::detect::combined::{CombinedDetector, CombinedSpec};
use crate::detect::config::{BaselineModel, BaselineSpec, Kind, Season};
use crate::detect::drift::{DriftDetector, DriftSpec};
use crate::detect::exceedance::{ExceedanceDetector, ExceedanceSpec};
use crate::detect::likelihood::{LikelihoodDetector, LikelihoodSpec};
use crate::detect::threshold::{ThresholdDetector, ThresholdSpec};
use crate::detect::{Detector, DetectorConfig};

/// A detector as validated from a rule, with every default resolved: what the engine
/// builds one detector instance per series from.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorSpec {
    /// Static limits with their recovery limits.
    Threshold(ThresholdSpec),
    /// A baseline detector (`zscore`, `ewma`, `mad`, `quantile`, `seasonal`).
    Baseline(BaselineSpec),
    /// CUSUM change points.
    Changepoint(ChangepointSpec),
    /// Anomaly likelihood.
    Likelihood(LikelihoodSpec),
    /// Several detectors on the same series.
    Combined(CombinedSpec),
    /// An exact binomial test of a window's failures.
    Binomial(BinomialSpec),
    /// Slow drift against a reference.
    Drift(DriftSpec),
    /// Individual values above the series' usual high quantile.
    Exceedance(ExceedanceSpec),
}

impl DetectorConfig {
    /// Validates the detector as written: its spec with every default resolved, or
    /// every problem found, as plain messages (the caller places them in its file).
    pub fn validate(&self) -> Result<DetectorSpec, Vec<String>> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self.resolved())
        } else {
            Err(problems)
        }
    }

    /// Human-readable problems with the configuration (empty when valid).
    fn problems(&self) -> Vec<String> {
        match self {
            DetectorConfig::Threshold(c) => c.validate(),
            DetectorConfig::Zscore(c) => c.validate(Kind::Zscore),
            DetectorConfig::Ewma(c) => c.validate(Kind::Ewma),
            DetectorConfig::Mad(c) => c.validate(Kind::Mad),
            DetectorConfig::Quantile(c) => c.validate(Kind::Quantile),
            DetectorConfig::Seasonal(c) => c.validate(Kind::Seasonal),
            DetectorConfig::Changepoint(c) => c.validate(Kind::Changepoint),
            DetectorConfig::Likelihood(c) => c.validate(),
            DetectorConfig::Binomial(c) => c.validate(),
            DetectorConfig::Drift(c) => c.validate(),
            DetectorConfig::Exceedance(c) => c.validate(),
            DetectorConfig::Combined(c) => {
                let mut errs: Vec<String> = c.of.iter().flat_map(|d| d.problems()).collect();
                if c.of.is_empty() {
                    errs.push("`combined` needs at least one detector in `of`".into());
                }
                errs
            }
        }
    }

    /// The spec with each kind's defaults resolved; only called once `problems` is empty.
    fn resolved(&self) -> DetectorSpec {
        match self {
            DetectorConfig::Threshold(c) => DetectorSpec::Threshold(c.spec()),
            DetectorConfig::Zscore(c) => DetectorSpec::Baseline(c.spec(Kind::Zscore)),
            DetectorConfig::Ewma(c) => DetectorSpec::Baseline(c.spec(Kind::Ewma)),
            DetectorConfig::Mad(c) => DetectorSpec::Baseline(c.spec(Kind::Mad)),
            DetectorConfig::Quantile(c) => DetectorSpec::Baseline(c.spec(Kind::Quantile)),
            DetectorConfig::Seasonal(c) => DetectorSpec::Baseline(c.spec(Kind::Seasonal)),
            DetectorConfig::Changepoint(c) => DetectorSpec::Changepoint(c.changepoint_spec()),
            DetectorConfig::Likelihood(c) => DetectorSpec::Likelihood(c.spec()),
            DetectorConfig::Binomial(c) => DetectorSpec::Binomial(c.spec()),
            DetectorConfig::Drift(c) => DetectorSpec::Drift(c.spec()),
            DetectorConfig::Exceedance(c) => DetectorSpec::Exceedance(c.spec()),
            DetectorConfig::Combined(c) => DetectorSpec::Combined(CombinedSpec {
                of: c.of.iter().map(|d| d.resolved()).collect(),
                mode: c.mode,
            }),
        }
    }
}

impl DetectorSpec {
    /// A fresh detector instance for one series.
    pub fn build(&self) -> Box<dyn Detector> {
        match self {
            DetectorSpec::Threshold(s) => Box::new(ThresholdDetector::new(*s)),
            DetectorSpec::Baseline(s) => match s.model {
                BaselineModel::Rolling { window } => Box::new(BaselineDetector::new(
                    s,
                    RollingBaseline::new(window.as_millis() as i64),
                )),
                BaselineModel::Ewma { half_life } => {
                    Box::new(BaselineDetector::new(s, EwmaBaseline::new(half_life)))
                }
                BaselineModel::Mad { half_life } => {
                    Box::new(BaselineDetector::new(s, MadBaseline::new(half_life)))
                }
                BaselineModel::Quantile {
                    quantile,
                    half_life,
                } => Box::new(BaselineDetector::new(
                    s,
                    QuantileBaseline::new(quantile, half_life),
                )),
                BaselineModel::Seasonal {
                    season,
                    min_seasons,
                } => Box::new(BaselineDetector::new(
                    s,
                    SeasonalBaseline::new(season, min_seasons),
                )),
            },
            DetectorSpec::Changepoint(s) => Box::new(ChangepointDetector::new(*s)),
            DetectorSpec::Likelihood(s) => Box::new(LikelihoodDetector::new(*s)),
            DetectorSpec::Combined(s) => Box::new(CombinedDetector::new(s)),
            DetectorSpec::Binomial(s) => Box::new(BinomialDetector::new(s)),
            DetectorSpec::Drift(s) => Box::new(DriftDetector::new(s)),
            DetectorSpec::Exceedance(s) => Box::new(ExceedanceDetector::new(s)),
        }
    }

    /// True for an `exceedance` detector with `pooled = true`: a sliced rule's coarser
    /// slices count values against their finest series' limits.
    pub fn is_pooled(&self) -> bool {
        matches!(self, DetectorSpec::Exceedance(s) if s.pooled)
    }

    /// How much history warms this detector up when evaluated every `period`: enough
    /// evaluations for its warm-up twice over (seasonal: its seasons), at most 7 days.
    /// None for detectors without a baseline.
    pub fn warmup_span(&self, period: Duration) -> Option<Duration> {
        let week = Duration::from_secs(7 * 86_400);
        let span = match self {
            DetectorSpec::Threshold(_) => return None,
            DetectorSpec::Baseline(s) => match s.model {
                BaselineModel::Seasonal {
                    season,
                    min_seasons,
                } => {
                    let period_days = if season == Season::Weekly { 7 } else { 1 };
                    Duration::from_secs((min_seasons + 1) * period_days * 86_400)
                }
                _ => period * (2 * s.judge.warmup) as u32,
            },
            DetectorSpec::Changepoint(s) => period * (2 * s.warmup) as u32,
            DetectorSpec::Likelihood(s) => period * (2 * s.warmup) as u32,
            // Its usual rate is what a week of history says.
            DetectorSpec::Binomial(_) | DetectorSpec::Drift(_) | DetectorSpec::Exceedance(_) => {
                week
            }
            DetectorSpec::Combined(s) => s.of.iter().filter_map(|d| d.warmup_span(period)).max()?,
        };
        Some(span.min(week))
    }
}
