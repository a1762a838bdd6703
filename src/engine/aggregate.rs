//! Reducing each group's samples in the window to one value.

use crate::model::Labels;
use crate::rule::spec::Aggregate;

/// The samples of one group in the window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    /// The group's labels (only the `group_by` ones).
    pub labels: Labels,
    /// The values, oldest first.
    pub values: Vec<f64>,
}

/// Reduces a group's values; `window_secs` is used by `rate`. None for no values.
pub fn aggregate(kind: Aggregate, values: &mut [f64], window_secs: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    Some(match kind {
        Aggregate::Avg => values.iter().sum::<f64>() / n,
        Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Sum => values.iter().sum(),
        Aggregate::Count => n,
        Aggregate::P10 => quantile(values, 0.10),
        Aggregate::P25 => quantile(values, 0.25),
        Aggregate::P50 => quantile(values, 0.50),
        Aggregate::P75 => quantile(values, 0.75),
        Aggregate::P90 => quantile(values, 0.90),
        Aggregate::P95 => quantile(values, 0.95),
        Aggregate::P99 => quantile(values, 0.99),
        Aggregate::Rate => values.iter().sum::<f64>() / window_secs.max(1e-9),
        Aggregate::Ratio => values.iter().filter(|v| **v != 0.0).count() as f64 / n,
        Aggregate::Last => *values.last().expect("not empty"),
    })
}

/// The q-quantile with linear interpolation between closest ranks (as numpy's default).
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    // Sorted in place: the caller's values are its own copy of the window's.
    values.sort_by(|a, b| a.total_cmp(b));
    let sorted = values;
    let rank = q * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates() {
        let v = [1.0, 2.0, 3.0, 4.0];
        let of = |kind, window| aggregate(kind, &mut v.clone(), window);
        assert_eq!(of(Aggregate::Avg, 60.0), Some(2.5));
        assert_eq!(of(Aggregate::Min, 60.0), Some(1.0));
        assert_eq!(of(Aggregate::Max, 60.0), Some(4.0));
        assert_eq!(of(Aggregate::Sum, 60.0), Some(10.0));
        assert_eq!(of(Aggregate::Count, 60.0), Some(4.0));
        assert_eq!(of(Aggregate::P50, 60.0), Some(2.5));
        assert_eq!(of(Aggregate::Rate, 5.0), Some(2.0));
        assert_eq!(of(Aggregate::Last, 1.0), Some(4.0));
        assert_eq!(
            aggregate(Aggregate::Ratio, &mut [0.0, 1.0, 0.0, 0.0], 1.0),
            Some(0.25)
        );
        assert_eq!(aggregate(Aggregate::Max, &mut [], 1.0), None);
        let mut hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert!((quantile(&mut hundred, 0.95) - 95.05).abs() < 1e-9);
    }
}
