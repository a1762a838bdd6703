//! The `driftwatch backtest` command: options, running, and output in each format.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::backtest::compare::compare;
use crate::backtest::detection::{score_labelled, Detection, ScoredAlert};
use crate::backtest::incidents::{read_incidents, score, Scores};
use crate::backtest::plot::plot_series;
use crate::backtest::report::{render_comparison, render_detection, render_table};
use crate::backtest::{backtest, BacktestReport};
use crate::config::validated::ServiceConfig;
use crate::rule::load_rules;
use crate::rule::RuleSet;
use crate::simulate::labels::LabelsFile;
use crate::sources::RuleQuery;
use crate::{Error, Result};

/// What `backtest` was asked to do.
#[derive(Debug, Clone)]
pub struct BacktestOptions {
    /// Service configuration (sources).
    pub config: ServiceConfig,
    /// Rules directory (default: the configuration's).
    pub rules_dir: PathBuf,
    /// Only this rule.
    pub rule: Option<String>,
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Known incidents (JSON) to score against.
    pub incidents: Option<PathBuf>,
    /// `table` or `json`.
    pub json: bool,
    /// Where to write an SVG chart.
    pub plot: Option<PathBuf>,
    /// Old and new rule directories to compare.
    pub compare: Option<(PathBuf, PathBuf)>,
    /// Show progress on stderr.
    pub progress: bool,
}

fn rules_in(dir: &Path, config: &ServiceConfig, only: Option<&str>) -> Result<RuleSet> {
    let mut set = load_rules(dir, &config.rule_context())?;
    if let Some(name) = only {
        set.rules.retain(|r| r.name == name);
        if set.rules.is_empty() {
            return Err(Error::Other(format!(
                "no rule named {name:?} in {}",
                dir.display()
            )));
        }
    }
    Ok(set)
}

async fn run_one(
    options: &BacktestOptions,
    rules: &RuleSet,
    keep_traces: bool,
) -> Result<BacktestReport> {
    let sources = crate::app::build_sources(&options.config)?;
    let show = options.progress;
    let mut last = String::new();
    let mut progress = |rule: &str, done: f64| {
        if show {
            let line = format!("\rbacktest {rule:<28} {:>5.1}%", done * 100.0);
            if line != last {
                eprint!("{line}");
                last = line;
            }
        }
    };
    let report = backtest(
        rules,
        &sources,
        options.from,
        options.to,
        keep_traces,
        &mut progress,
    )
    .await?;
    if show {
        eprintln!();
    }
    Ok(report)
}

/// Runs the command and returns what to print.
pub async fn run_backtest(options: BacktestOptions) -> Result<String> {
    if options.to <= options.from {
        return Err(Error::Other("--to must be after --from".into()));
    }
    if let Some((old_dir, new_dir)) = &options.compare {
        let old = run_one(
            &options,
            &rules_in(old_dir, &options.config, options.rule.as_deref())?,
            false,
        )
        .await?;
        let new = run_one(
            &options,
            &rules_in(new_dir, &options.config, options.rule.as_deref())?,
            false,
        )
        .await?;
        let c = compare(&old, &new);
        return Ok(if options.json {
            serde_json::to_string_pretty(&c).expect("serializable")
        } else {
            render_comparison(&c)
        });
    }
    let rules = rules_in(&options.rules_dir, &options.config, options.rule.as_deref())?;
    let report = run_one(&options, &rules, options.plot.is_some()).await?;
    let (scores, detection) = match &options.incidents {
        Some(path) => score_file(path, &report, &rules)?,
        None => (None, None),
    };
    if let Some(path) = &options.plot {
        plot_busiest(&report, path)?;
    }
    Ok(if options.json {
        let mut json = serde_json::json!({ "report": report, "scores": scores });
        if let Some(d) = &detection {
            json["detection"] = serde_json::json!(d);
        }
        serde_json::to_string_pretty(&json).expect("serializable")
    } else {
        let mut text = render_table(&report, scores.as_ref());
        if let Some(d) = &detection {
            text.push_str(&render_detection(d));
        }
        text
    })
}

/// Scores the report against an incidents file: a plain list (precision, recall, delays)
/// or a `driftwatch simulate` labels file (detection per kind, false alerts per week).
fn score_file(
    path: &Path,
    report: &BacktestReport,
    rules: &RuleSet,
) -> Result<(Option<Scores>, Option<Detection>)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let alerts: Vec<_> = report
        .rules
        .iter()
        .flat_map(|r| r.alerts.iter().cloned())
        .collect();
    if !text.trim_start().starts_with('{') {
        let incidents = read_incidents(&text).map_err(Error::Other)?;
        return Ok((Some(score(&alerts, &incidents)), None));
    }
    let labels = LabelsFile::from_json(&text)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let metric_of = |rule: &str| {
        rules
            .rules
            .iter()
            .find(|r| r.name == rule)
            .and_then(|r| match &r.query {
                RuleQuery::Catalog { metric, .. } => Some(metric.name()),
                _ => None,
            })
    };
    let scored: Vec<ScoredAlert<'_>> = alerts
        .iter()
        .map(|span| ScoredAlert {
            span,
            metric: metric_of(&span.rule),
        })
        .collect();
    Ok((
        None,
        Some(score_labelled(&scored, &labels, report.from, report.to)),
    ))
}

/// Plots the series with the most alerts (or the first one) of the first rule that has data.
fn plot_busiest(report: &BacktestReport, path: &Path) -> Result<()> {
    let rule = report
        .rules
        .iter()
        .filter(|r| !r.traces.is_empty())
        .max_by_key(|r| r.alerts.len())
        .ok_or_else(|| Error::Other("nothing to plot: no rule evaluated any value".into()))?;
    let (fp, (labels, points)) = rule
        .traces
        .iter()
        .max_by_key(|(fp, (_, pts))| {
            (
                rule.alerts.iter().filter(|a| &a.fingerprint == *fp).count(),
                pts.len(),
            )
        })
        .expect("traces not empty");
    let alerts: Vec<_> = rule
        .alerts
        .iter()
        .filter(|a| &a.fingerprint == fp)
        .collect();
    let title = format!(
        "{} {}",
        rule.rule,
        if labels.is_empty() {
            "all".to_owned()
        } else {
            labels.to_string()
        }
    );
    plot_series(path, &title, points, &alerts, report.to).map_err(Error::Other)
}
