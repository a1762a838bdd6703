//! Prints a backtest as a readable table.

use std::fmt::Write;

use crate::backtest::compare::Comparison;
use crate::backtest::detection::Detection;
use crate::backtest::incidents::Scores;
use crate::backtest::{AlertSpan, BacktestReport};
use crate::detect::threshold::fmt_num;

fn duration(secs: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.max(0.0) as u64)).to_string()
}

fn span_line(a: &AlertSpan) -> String {
    let end = a
        .end
        .map(|e| e.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "(still firing)".into());
    format!(
        "    {} → {}  peak {:<10} {}  {}",
        a.start.format("%Y-%m-%d %H:%M:%S"),
        end,
        fmt_num(a.peak),
        if a.labels.is_empty() {
            "all".to_owned()
        } else {
            a.labels.to_string()
        },
        a.reason
    )
}

/// The report as a table: per rule, its alerts, their rate and time firing.
pub fn render_table(report: &BacktestReport, scores: Option<&Scores>) -> String {
    let days = ((report.to - report.from).num_seconds() as f64 / 86400.0).max(1e-9);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "backtest {} → {} ({})",
        report.from.format("%Y-%m-%d %H:%M:%S"),
        report.to.format("%Y-%m-%d %H:%M:%S"),
        duration((report.to - report.from).num_seconds() as f64)
    );
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:>9} {:>9} {:>12}",
        "rule", "alerts", "per day", "per week", "firing"
    );
    for r in &report.rules {
        if let Some(why) = &r.skipped {
            let _ = writeln!(out, "{:<28} skipped: {why}", r.rule);
            continue;
        }
        let n = r.alerts.len() as f64;
        let _ = writeln!(
            out,
            "{:<28} {:>7} {:>9.2} {:>9.2} {:>12}",
            r.rule,
            r.alerts.len(),
            n / days,
            n / days * 7.0,
            duration(r.firing_seconds)
        );
        for a in &r.alerts {
            let _ = writeln!(out, "{}", span_line(a));
        }
    }
    if let Some(s) = scores {
        let _ = writeln!(
            out,
            "\nincidents {}: detected {} (recall {:.0}%); alerts {}: on an incident {} (precision {:.0}%)",
            s.incidents,
            s.detected,
            s.recall * 100.0,
            s.alerts,
            s.true_alerts,
            s.precision * 100.0
        );
        for (name, delay) in &s.delays {
            match delay {
                Some(d) => {
                    let _ = writeln!(out, "    {name}: detected after {}", duration(*d));
                }
                None => {
                    let _ = writeln!(out, "    {name}: missed");
                }
            }
        }
    }
    out
}

/// A comparison as text.
pub fn render_comparison(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "gained {}, lost {}, shifted {}, unchanged {}",
        c.gained.len(),
        c.lost.len(),
        c.shifted.len(),
        c.unchanged
    );
    for a in &c.gained {
        let _ = writeln!(out, "  + {} {}", a.rule, span_line(a).trim());
    }
    for a in &c.lost {
        let _ = writeln!(out, "  - {} {}", a.rule, span_line(a).trim());
    }
    for (o, n) in &c.shifted {
        let shift = (n.start - o.start).num_seconds();
        let _ = writeln!(
            out,
            "  ~ {} {} starts {}{}s ({} → {})",
            o.rule,
            o.labels,
            if shift >= 0 { "+" } else { "" },
            shift,
            o.start.format("%H:%M:%S"),
            n.start.format("%H:%M:%S")
        );
    }
    out
}

/// Detection against a labelled month as text: per kind, false alerts, per incident.
pub fn render_detection(d: &Detection) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nlabelled incidents (an alert counts from the incident's start to its end + {}):",
        duration(d.grace_seconds as f64)
    );
    let _ = writeln!(
        out,
        "{:<16} {:>9} {:>14}",
        "kind", "detected", "median delay"
    );
    for k in &d.kinds {
        let delay = k
            .median_delay_seconds
            .map(duration)
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<16} {:>5}/{:<3} {:>14}",
            k.kind.as_str(),
            k.detected,
            k.incidents,
            delay
        );
    }
    let _ = writeln!(
        out,
        "false alerts: {} of {} ({:.2} per week), {} on a slice labelled not an incident (new model)",
        d.false_alerts, d.alerts, d.false_alerts_per_week, d.not_incident_alerts
    );
    for (rule, n) in &d.false_by_rule {
        let _ = writeln!(out, "    {rule:<28} {n}");
    }
    for i in &d.incidents {
        let found = match i.delay_seconds {
            Some(s) => format!("after {} by {}", duration(s), i.rules.join(", ")),
            None => "missed".to_owned(),
        };
        let _ = writeln!(out, "    {}: {found}", i.name);
    }
    out
}
