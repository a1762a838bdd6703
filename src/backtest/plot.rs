//! Draws a backtest as an SVG: the series, its normal band, and the alert spans.

use std::path::Path;

use chrono::{DateTime, Utc};
use plotters::prelude::*;

use crate::backtest::{AlertSpan, TracePoint};

/// Writes one series' plot to `path`.
pub fn plot_series(
    path: &Path,
    title: &str,
    points: &[TracePoint],
    alerts: &[&AlertSpan],
    to: DateTime<Utc>,
) -> Result<(), String> {
    if points.is_empty() {
        return Err("nothing to plot: the series has no evaluated values".into());
    }
    let x = |t: DateTime<Utc>| t.timestamp() as f64;
    let x0 = x(points[0].at);
    let x1 = x(points[points.len() - 1].at).max(x0 + 1.0);
    let finite = |v: f64| v.is_finite().then_some(v);
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for p in points {
        for v in [
            Some(p.value),
            p.band.and_then(|b| finite(b.0)),
            p.band.and_then(|b| finite(b.1)),
        ]
        .into_iter()
        .flatten()
        {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let pad = ((hi - lo) * 0.08).max(1e-9);
    let (lo, hi) = (lo - pad, hi + pad);
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (1200, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, lo..hi)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|v| {
                DateTime::from_timestamp(*v as i64, 0)
                    .map(|t| t.format("%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            })
            .draw()?;
        // Alert spans first, so the series is drawn over them.
        chart.draw_series(alerts.iter().map(|a| {
            let end = x(a.end.unwrap_or(to)).min(x1);
            Rectangle::new(
                [(x(a.start).max(x0), lo), (end, hi)],
                RED.mix(0.18).filled(),
            )
        }))?;
        let band: Vec<(f64, f64, f64)> = points
            .iter()
            .filter_map(|p| {
                p.band
                    .map(|(l, u)| (x(p.at), l.clamp(lo, hi), u.clamp(lo, hi)))
            })
            .collect();
        if !band.is_empty() {
            let mut outline: Vec<(f64, f64)> = band.iter().map(|(t, _, u)| (*t, *u)).collect();
            outline.extend(band.iter().rev().map(|(t, l, _)| (*t, *l)));
            chart.draw_series(std::iter::once(Polygon::new(
                outline,
                BLUE.mix(0.12).filled(),
            )))?;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (x(p.at), p.value)),
                &BLUE,
            ))?
            .label("value")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("cannot draw {}: {e}", path.display()))
}
