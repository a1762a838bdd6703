//! The normal band an alert's chart draws: its rule's detector, restored from the
//! alert's stored baseline, judges the alert's last value, and the verdict's band (the
//! baseline centre ± the detector's spread, or a threshold's limits) is the band as of
//! now. Baselines are stored as their latest state only, so the band of earlier
//! instants is not known; the chart says so.

use crate::engine::Alert;
use crate::rule::Rule;

/// The band now: lower and upper edge (either may be infinite: a one-sided threshold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Lower edge.
    pub low: f64,
    /// Upper edge.
    pub high: f64,
    /// The baseline centre or the threshold, as the detector reports it.
    pub centre: Option<f64>,
}

/// The band `rule`'s detector, restored from `baseline`, puts around `alert`'s last
/// value; None without a value, while the detector is still learning, or when the
/// stored state does not fit the rule (it was edited since).
pub fn band_now(rule: &Rule, baseline: Option<&serde_json::Value>, alert: &Alert) -> Option<Band> {
    let value = alert.value?;
    let mut detector = rule.detector.build();
    if let Some(state) = baseline {
        detector.restore(state).ok()?;
    }
    // Judging learns too, but this detector is a copy dropped at once: nothing is kept.
    let verdict = detector.observe(alert.evaluated_at.timestamp_millis(), value);
    if verdict.warming_up {
        return None;
    }
    let (low, high) = verdict.band?;
    (low <= high).then_some(Band {
        low,
        high,
        centre: verdict.expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Severity};
    use crate::rule::{parse_rules, RuleContext};
    use crate::types::SourceFile;

    fn rule(detector: &str) -> std::sync::Arc<Rule> {
        let text = format!(
            "[[rule]]\nname = \"r\"\nmetric = \"workflow.duration\"\naggregate = \"max\"\n\
             window = \"1h\"\nevery = \"1m\"\nseverity = \"warning\"\nsummary = \"s\"\n\
             detector = {detector}\n"
        );
        let ctx = RuleContext {
            sources: vec!["cmbagent".to_owned()],
            source_kinds: Default::default(),
            receivers: vec!["hook".to_owned()],
            default_receivers: vec!["hook".to_owned()],
        };
        let set = parse_rules(&[SourceFile::new("t.toml", text)], &ctx).unwrap();
        set.rules[0].clone()
    }

    fn alert(value: f64, at_ms: i64) -> Alert {
        let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap();
        let mut a = Alert::new("r", Labels::new(), &Labels::new(), Severity::Warning, at);
        a.value = Some(value);
        a.evaluated_at = at;
        a
    }

    #[test]
    fn a_learnt_baseline_gives_its_band_around_its_centre_and_a_threshold_its_limit() {
        let zscore = rule("{ kind = \"zscore\", window = \"1d\", sigmas = 3.0 }");
        let mut learnt = zscore.detector.build();
        let t0 = 1_800_000_000_000;
        for i in 0..200 {
            learnt.observe(t0 + i * 60_000, 100.0 + (i % 5) as f64);
        }
        let state = learnt.snapshot();
        let band = band_now(&zscore, Some(&state), &alert(130.0, t0 + 200 * 60_000)).unwrap();
        let centre = band.centre.unwrap();
        assert!((centre - 102.0).abs() < 0.5, "{band:?}");
        assert!(band.low < centre && centre < band.high, "{band:?}");
        assert!(
            (band.high - centre - (centre - band.low)).abs() < 1e-6,
            "centre ± spread"
        );
        assert!(
            band_now(&zscore, None, &alert(130.0, t0)).is_none(),
            "still learning"
        );

        let threshold = rule("{ kind = \"threshold\", above = 600 }");
        let band = band_now(&threshold, None, &alert(700.0, t0)).unwrap();
        assert_eq!((band.low, band.high), (f64::NEG_INFINITY, 600.0));
    }
}
