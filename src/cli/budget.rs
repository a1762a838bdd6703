//! `driftwatch budget status`: each budget's spend, even pace, burn rates, forecast with
//! its 80 % interval and expected crossing day, read from its source now (or at `--at`).
//! A running service shows the same at `GET /api/v1/budgets`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use driftwatch::budget::replay::status_at;
use driftwatch::budget::{load_budgets, BudgetStatus};

use super::{load_service_or_print, parse_instant, print_errors};

/// Arguments of `driftwatch budget`.
#[derive(Args)]
pub struct BudgetArgs {
    /// What to do.
    #[command(subcommand)]
    action: BudgetAction,
}

/// The budget actions.
#[derive(Subcommand)]
enum BudgetAction {
    /// Print every budget's spend, pace, burn rates and forecast.
    Status(StatusArgs),
}

/// Arguments of `driftwatch budget status`.
#[derive(Args)]
struct StatusArgs {
    /// The service configuration file (for the sources).
    #[arg(long, short, default_value = "driftwatch.toml")]
    config: PathBuf,
    /// Rules directory (default: the configuration's).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Only this budget.
    #[arg(long)]
    budget: Option<String>,
    /// Judge as of this instant instead of now (same forms as `backtest --from`).
    #[arg(long, value_parser = parse_instant)]
    at: Option<chrono::DateTime<chrono::Utc>>,
    /// Print JSON (the API's shape) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `driftwatch budget …`.
pub async fn run(args: BudgetArgs) -> ExitCode {
    match args.action {
        BudgetAction::Status(a) => status(a).await,
    }
}

async fn status(args: StatusArgs) -> ExitCode {
    let Some(service) = load_service_or_print(&args.config) else {
        return ExitCode::FAILURE;
    };
    let dir = args.rules.unwrap_or_else(|| service.rules_dir.clone());
    let budgets = match load_budgets(&dir, &service.rule_context()) {
        Ok(b) => b,
        Err(e) => {
            print_errors(&e);
            return ExitCode::FAILURE;
        }
    };
    let sources = match driftwatch::app::build_sources(&service) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let at = args.at.unwrap_or_else(chrono::Utc::now);
    let mut all = Vec::new();
    for b in budgets
        .iter()
        .filter(|b| args.budget.as_ref().is_none_or(|n| *n == b.name))
    {
        let Some(source) = sources.get(&b.source) else {
            eprintln!("error: budget {}: no source {:?}", b.name, b.source);
            return ExitCode::FAILURE;
        };
        match status_at(Arc::clone(b), source.as_ref(), at).await {
            Ok(s) => all.extend(s),
            Err(e) => {
                eprintln!("error: budget {}: {e}", b.name);
                return ExitCode::FAILURE;
            }
        }
    }
    if args.json {
        println!("{}", serde_json::json!({ "budgets": all }));
    } else if all.is_empty() {
        println!("no budgets in {}", dir.display());
    } else {
        all.iter().for_each(|s| println!("{}", render(s)));
    }
    ExitCode::SUCCESS
}

/// One status as a few readable lines.
fn render(s: &BudgetStatus) -> String {
    let u = s.unit;
    let f = &s.forecast;
    let group = if s.group.is_empty() {
        String::new()
    } else {
        format!(" {}", s.group)
    };
    let crossing = match &f.crossing_day {
        Some(d) if f.spent >= s.amount => format!("crossed {d}"),
        Some(d) => format!("crossing expected {d}"),
        None => "no crossing expected this period".to_owned(),
    };
    format!(
        "{}{group}: {} of {} per {} ({:.0} %), {} to {} {}\n  \
         even pace: {} by now, {}/h now{}\n  \
         burn: 1h {:.1}× 5m {:.1}× (fast above {}×) · 6h {:.1}× 30m {:.1}× (slow above {}×)\n  \
         forecast: {} at the period's end (80 %: {}–{}), pace {:.2}× even; {crossing}",
        s.budget,
        u.format(s.spent),
        u.format(s.amount),
        s.period,
        s.spent_fraction * 100.0,
        s.period_start.format("%Y-%m-%d %H:%M UTC"),
        s.period_end.format("%Y-%m-%d %H:%M UTC"),
        s.timezone,
        u.format(s.pace_expected),
        u.format(s.pace_per_hour),
        if s.pace_flat {
            " (flat: no week of history yet)"
        } else {
            " (following the weekly shape)"
        },
        s.fast_burn.long.rate,
        s.fast_burn.short.rate,
        driftwatch::budget::burn::FAST.factor,
        s.slow_burn.long.rate,
        s.slow_burn.short.rate,
        driftwatch::budget::burn::SLOW.factor,
        u.format(f.expected),
        u.format(f.low),
        u.format(f.high),
        f.pace_ratio,
    )
}
