//! The command line: one file per subcommand, each with its arguments and its `run`.
//!
//! `main.rs` only parses and dispatches; what a subcommand does lives in its own file, so
//! a new subcommand is one new file and one enum variant here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use driftwatch::types::ConfigErrors;

pub mod backtest;
pub mod check;
pub mod demo;
pub mod explain;
pub mod run;
pub mod schema;
pub mod score;
pub mod silence;
pub mod simulate;
pub mod template;
pub mod test;

/// driftwatch watches LLM-agent workflow metrics (runs, steps, LLM calls) and alerts on
/// static thresholds and rolling baselines, by signed webhook, email or Alertmanager.
#[derive(Parser)]
#[command(
    name = "driftwatch",
    version,
    about,
    long_about = None,
    after_help = "Start with `driftwatch demo` to see alerts reach a webhook within a minute.\n\
                  As a service: `driftwatch check -c driftwatch.toml && driftwatch run -c driftwatch.toml`.\n\
                  HTTP: /metrics, /healthz, /readyz, /api/v1/alerts, /api/v1/rules, /api/v1/status,\n\
                  /api/v1/summary, /api/v1/deadletters, /api/v1/receivers, /api/v1/silences,\n\
                  /api/v1/alerts/FINGERPRINT/log; with the\n\
                  bearer token: POST /-/reload, POST /api/v1/receivers/NAME/enable, POST /api/v1/silences,\n\
                  DELETE /api/v1/silences/ID. `driftwatch help <command>` for details."
)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; each variant's arguments and behaviour live in `cli/<name>.rs`.
#[derive(Subcommand)]
pub enum Command {
    /// Run the service: evaluate rules on their schedules and deliver notifications.
    ///
    /// The rules are reloaded on SIGHUP, on `POST /-/reload` (bearer token) and when a
    /// file in the rules directory changes; a broken rule file keeps the previous rules
    /// running. SIGTERM or Ctrl-C stops gracefully: evaluations in flight finish, no new
    /// notifications are claimed, and the process exits within `--shutdown-grace`.
    Run(run::RunArgs),
    /// Validate the configuration and every rule file; print every error; exit 1 on any.
    Check(check::CheckArgs),
    /// Run rule unit tests: input series in compact notation and the alerts expected
    /// at given times (see rules/tests/). Exit 1 with a readable diff on any failure.
    Test(test::TestArgs),
    /// Run a detector over CSV series (timestamp,value), one sample at a time using only
    /// the past; write timestamp,value,anomaly_score rows (NAB's scorer reads them).
    Score(score::ScoreArgs),
    /// Print the JSON Schema of rule files or of driftwatch.toml, for editors that
    /// validate and complete TOML (e.g. taplo: `#:schema ./rules.schema.json`).
    Schema(schema::SchemaArgs),
    /// Tell why an alert's notifications were or were not sent: the route and group each
    /// change joined, the silence, inhibition, time interval or flap hold that stopped
    /// one, each notification and each delivery attempt (from the store's decision log).
    Explain(explain::ExplainArgs),
    /// Create, list or expire silences on a running driftwatch (its HTTP API).
    Silence(silence::SilenceArgs),
    /// Preview notification templates and body formats.
    Template(template::TemplateArgs),
    /// Replay rules over a source's history, as the live engine would have, sending
    /// nothing; report every alert that would have fired.
    Backtest(backtest::BacktestArgs),
    /// Write a labelled month of simulated CMBAgent traffic (runs, steps, LLM calls, costs)
    /// to SQLite or PostgreSQL, with one incident of every kind injected, and a labels
    /// file for `backtest --incidents`. The same seed writes the same rows.
    Simulate(simulate::SimulateArgs),
    /// Run the demo: a simulated CMBAgent workload in SQLite, the shipped rules, and a
    /// webhook receiver on loopback that prints each alert it gets.
    Demo(demo::DemoArgs),
}

impl Command {
    /// Runs the subcommand, returning the process's exit code.
    pub async fn run(self) -> ExitCode {
        match self {
            Command::Run(args) => run::run(args).await,
            Command::Check(args) => check::run(args),
            Command::Test(args) => test::run(args),
            Command::Score(args) => score::run(args),
            Command::Schema(args) => schema::run(args),
            Command::Explain(args) => explain::run(args).await,
            Command::Silence(args) => silence::run(args).await,
            Command::Template(args) => template::run(args),
            Command::Backtest(args) => backtest::run(args).await,
            Command::Simulate(args) => simulate::run(args).await,
            Command::Demo(args) => demo::run(args).await,
        }
    }
}

/// An instant: RFC 3339, "YYYY-MM-DD HH:MM:SS" (UTC), "now", or a duration ago ("7d").
pub fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if s == "now" {
        return Ok(chrono::Utc::now());
    }
    if let Ok(t) = driftwatch::sources::sql::parse_timestamp(s) {
        return Ok(t);
    }
    humantime::parse_duration(s)
        .ok()
        .and_then(|d| chrono::Utc::now().checked_sub_signed(chrono::Duration::from_std(d).ok()?))
        .ok_or_else(|| format!("{s:?} is not a time; expected RFC 3339, \"YYYY-MM-DD HH:MM:SS\", \"now\" or a duration ago like \"7d\""))
}

/// Prints every configuration error, then their count, on stderr.
pub fn print_errors(errors: &ConfigErrors) {
    for e in &errors.0 {
        eprintln!("error: {e}");
    }
    eprintln!("{} error(s)", errors.0.len());
}

/// Loads the service configuration, printing its errors when it does not load.
pub fn load_service_or_print(path: &std::path::Path) -> Option<driftwatch::config::ServiceConfig> {
    match driftwatch::config::load_service_config(path) {
        Ok(s) => Some(s),
        Err(e) => {
            print_errors(&e);
            None
        }
    }
}
