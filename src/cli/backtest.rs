//! `driftwatch backtest`: replay rules over a source's history, sending nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use driftwatch::backtest::cli::{run_backtest, BacktestOptions};
use driftwatch::Error;

use super::{load_service_or_print, parse_instant, print_errors};

/// Arguments of `driftwatch backtest`.
#[derive(Args)]
pub struct BacktestArgs {
    /// The service configuration file (for the sources).
    #[arg(long, short, default_value = "driftwatch.toml")]
    config: PathBuf,
    /// Rules directory (default: the configuration's).
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Only this rule.
    #[arg(long)]
    rule: Option<String>,
    /// Start: RFC 3339, "YYYY-MM-DD HH:MM:SS" (UTC), or a duration ago such as "7d".
    #[arg(long, value_parser = parse_instant)]
    from: chrono::DateTime<chrono::Utc>,
    /// End (default: now); same forms as --from.
    #[arg(long, value_parser = parse_instant)]
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// Known incidents (JSON list of {start, end, rule?, labels?, name?}): adds
    /// precision, recall and detection delay.
    #[arg(long)]
    incidents: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write an SVG of the busiest series with its band and alert spans.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Compare two rule directories over the same history: OLD NEW.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    compare: Option<Vec<PathBuf>>,
}

/// Output formats.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A readable table.
    Table,
    /// JSON.
    Json,
}

/// Prints the backtest's report; exit 1 on a configuration or source error.
pub async fn run(args: BacktestArgs) -> ExitCode {
    let Some(service) = load_service_or_print(&args.config) else {
        return ExitCode::FAILURE;
    };
    let options = BacktestOptions {
        rules_dir: args.rules.unwrap_or_else(|| service.rules_dir.clone()),
        config: service,
        rule: args.rule,
        from: args.from,
        to: args.to.unwrap_or_else(chrono::Utc::now),
        incidents: args.incidents,
        json: args.format == Format::Json,
        plot: args.plot,
        compare: args.compare.map(|v| (v[0].clone(), v[1].clone())),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    match run_backtest(options).await {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(Error::Config(e)) => {
            print_errors(&e);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
