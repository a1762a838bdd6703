//! `driftwatch simulate`: a labelled month of simulated CMBAgent traffic in a database.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use driftwatch::simulate::{default_start, simulate, summary, SimulateOptions};

use super::parse_instant;

/// Arguments of `driftwatch simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    /// The seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many days.
    #[arg(long, default_value_t = 28)]
    days: u32,
    /// A new database: a SQLite file path (or sqlite: URL) or a postgres:// URL.
    #[arg(long)]
    out: String,
    /// Where to write the labels JSON.
    #[arg(long)]
    labels: PathBuf,
    /// The first instant (default 2026-11-02T00:00:00Z, a Monday); same forms as
    /// backtest --from.
    #[arg(long, value_parser = parse_instant)]
    start: Option<chrono::DateTime<chrono::Utc>>,
}

/// Writes the traffic and the labels; prints a summary.
pub async fn run(args: SimulateArgs) -> ExitCode {
    let options = SimulateOptions {
        seed: args.seed,
        days: args.days,
        start: args.start.unwrap_or_else(default_start),
        out: args.out,
        labels: args.labels,
    };
    match simulate(&options).await {
        Ok((labels, seconds)) => {
            print!("{}", summary(&labels, seconds));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
