//! `GET /ui/alerts/{fingerprint}/series.svg`: the alert's series re-queried from its
//! rule's source for the last 24 hours, drawn as SVG with plotters' SVG backend (as
//! backtests are: no chart library in the page, no script) with the threshold or
//! baseline centre the alert was last judged against, and the detector's normal band
//! as of now ([`super::band`]): shaded across the chart and labelled "now" in the
//! legend, since past bands are not stored.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use plotters::prelude::*;

use crate::server::console::band::{band_now, Band};
use crate::server::console::page::PageError;
use crate::server::console::session::Reader;
use crate::server::ServerState;
use crate::sources::FetchRequest;

/// How far back the chart reaches.
pub const SPAN: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// The most points drawn; longer series are thinned evenly.
pub const MAX_POINTS: usize = 1_500;

/// The band's fill: a light green under the series.
const BAND_FILL: RGBAColor = RGBAColor(46, 160, 67, 0.18);

/// The y range that shows every value, the threshold and the band's finite edges, with
/// a strip on top kept free of them for the legend.
fn y_range(
    points: &[(DateTime<Utc>, f64)],
    threshold: Option<f64>,
    band: Option<Band>,
) -> (f64, f64) {
    let edges = band.into_iter().flat_map(|b| [b.low, b.high]);
    let values = points
        .iter()
        .map(|p| p.1)
        .chain(threshold)
        .chain(edges.filter(|v| v.is_finite()));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    let pad = ((hi - lo) * 0.08).max(1e-9);
    (lo - pad, hi + pad + (hi - lo + 2.0 * pad) * 0.3)
}

/// The legend's words for the band (the numbers are the detector's, not a row's).
fn band_label(b: &Band) -> String {
    let edge = |v: f64| {
        if v.is_finite() {
            format!("{v:.4}")
        } else if v < 0.0 {
            "−∞".to_owned()
        } else {
            "∞".to_owned()
        }
    };
    format!(
        "normal band now ({} to {}); earlier bands are not stored",
        edge(b.low),
        edge(b.high)
    )
}

/// Draws `points` (time, value), a dashed `threshold` (or baseline centre) and the
/// normal `band` as of now, with a legend, as an SVG document.
pub fn draw(
    points: &[(DateTime<Utc>, f64)],
    threshold: Option<f64>,
    band: Option<Band>,
) -> Result<String, String> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Err("no samples in the last 24 hours".into());
    };
    let x0 = first.0.timestamp() as f64;
    // A lone sample gets a minute either side, so it is not drawn on the frame.
    let (x0, x1) = if last.0 > first.0 {
        (x0, last.0.timestamp() as f64)
    } else {
        (x0 - 60.0, x0 + 60.0)
    };
    let (lo, hi) = y_range(points, threshold, band);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 300)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, lo..hi)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|v| {
                DateTime::from_timestamp(*v as i64, 0)
                    .map(|t| t.format("%H:%M").to_string())
                    .unwrap_or_default()
            })
            .draw()
            .map_err(|x| e(&x))?;
        if let Some(b) = band {
            // Infinite edges (a one-sided threshold) are drawn to the frame.
            let rect = Rectangle::new(
                [(x0, b.low.max(lo)), (x1, b.high.min(hi))],
                BAND_FILL.filled(),
            );
            chart
                .draw_series(std::iter::once(rect))
                .map_err(|x| e(&x))?
                .label(band_label(&b))
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], BAND_FILL.filled()));
        }
        if let Some(t) = threshold {
            let dashes = DashedLineSeries::new([(x0, t), (x1, t)], 6, 4, RED.stroke_width(2));
            chart
                .draw_series(dashes)
                .map_err(|x| e(&x))?
                .label("threshold or baseline centre at the last evaluation")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.stroke_width(2)));
        }
        let x = |t: &DateTime<Utc>| t.timestamp() as f64;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (x(&p.0), p.1)),
                &BLUE,
            ))
            .map_err(|x| e(&x))?
            .label("value")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
        if points.len() <= 200 {
            // Few samples (a rule over runs): each is a dot, so a lone one shows.
            let dots = points
                .iter()
                .map(|p| Circle::new((x(&p.0), p.1), 3, BLUE.filled()));
            chart.draw_series(dots).map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

/// A chart-sized SVG that says why there is no chart (fixed words, nothing from a row).
fn placeholder(why: &'static str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"900\" height=\"300\" viewBox=\"0 0 900 300\">\
         <rect width=\"900\" height=\"300\" fill=\"#fff\"/>\
         <text x=\"450\" y=\"150\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"20\" fill=\"#5f6b78\">{why}</text></svg>"
    )
}

fn svg(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `GET /ui/alerts/{fingerprint}/series.svg`.
pub async fn series(
    State(state): State<ServerState>,
    Reader(_): Reader,
    Path(fingerprint): Path<String>,
) -> Result<Response, PageError> {
    let alert = state
        .store
        .alerts_by_fingerprint(&[fingerprint.as_str()])
        .await
        .map_err(|e| PageError::internal(e.to_string()))?
        .remove(&fingerprint);
    let Some(alert) = alert else {
        return Ok(svg(placeholder("no such alert")));
    };
    let rules = state.rules.rules();
    let Some(rule) = rules.iter().find(|r| r.name == alert.rule) else {
        return Ok(svg(placeholder("its rule is no longer loaded")));
    };
    let Some(source) = state.console.sources.get(&rule.source) else {
        return Ok(svg(placeholder("its source is not configured")));
    };
    if source.is_snapshot(&rule.query) {
        return Ok(svg(placeholder("a snapshot metric keeps no history")));
    }
    let now = state.clock.now();
    let request = FetchRequest {
        query: &rule.query,
        after: crate::time_math::earlier_by(now, SPAN),
        until: now,
    };
    let Ok(rows) = source.fetch(request).await else {
        return Ok(svg(placeholder("the source did not answer")));
    };
    let mut points: Vec<(DateTime<Utc>, f64)> = rows
        .iter()
        .filter(|o| alert.group.iter().all(|(k, v)| o.labels.get(k) == Some(v)))
        .map(|o| (o.sample.ts, o.sample.value))
        .collect();
    points.sort_by_key(|p| p.0);
    let stride = points.len().div_ceil(MAX_POINTS).max(1);
    let points: Vec<_> = points.into_iter().step_by(stride).collect();
    let baseline = state.store.baseline(&fingerprint).await.ok().flatten();
    let band = band_now(rule, baseline.as_ref(), &alert);
    Ok(svg(draw(&points, alert.threshold, band).unwrap_or_else(
        |_| placeholder("no samples in the last 24 hours"),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_series_with_its_threshold_and_refuses_none() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let points: Vec<_> = (0..10)
            .map(|i| (t0 + chrono::TimeDelta::minutes(i), i as f64))
            .collect();
        let svg = draw(&points, Some(7.5), None).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<polyline"), "the series is a line: {svg}");
        assert!(!svg.contains("normal band"), "no band, no legend for it");
        assert!(draw(&[], Some(1.0), None).is_err());
        let lone = draw(&points[..1], None, None).unwrap();
        assert!(lone.contains("<circle"), "a lone sample is a dot: {lone}");
    }

    #[test]
    fn the_band_is_shaded_and_named_as_of_now_in_the_legend() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let points: Vec<_> = (0..10)
            .map(|i| (t0 + chrono::TimeDelta::minutes(i), i as f64))
            .collect();
        let band = Band {
            low: 2.0,
            high: 6.0,
            centre: Some(4.0),
        };
        let svg = draw(&points, Some(4.0), Some(band)).unwrap();
        assert!(
            svg.contains("normal band now (2.0000 to 6.0000); earlier bands are not stored"),
            "{svg}"
        );
        assert!(
            svg.contains("opacity=\"0.18\" fill=\"#2EA043\""),
            "the band is shaded: {svg}"
        );
        let open = Band {
            low: f64::NEG_INFINITY,
            ..band
        };
        let svg = draw(&points, Some(6.0), Some(open)).unwrap();
        assert!(svg.contains("(−∞ to 6.0000)"), "{svg}");
    }
}
