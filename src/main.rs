//! The `driftwatch` command: run the service, check rules, or run the demo.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

use driftwatch::backtest::cli::{run_backtest, BacktestOptions};
use driftwatch::clock::SystemClock;
use driftwatch::config::{load_rules, load_service_config, ConfigErrors};
use driftwatch::demo::{run_demo, DemoOptions};
use driftwatch::telemetry::init_logging;
use driftwatch::Error;

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
                  /api/v1/summary, /api/v1/deadletters, /api/v1/receivers, /api/v1/silences; with the\n\
                  bearer token: POST /-/reload, POST /api/v1/receivers/NAME/enable, POST /api/v1/silences,\n\
                  DELETE /api/v1/silences/ID. `driftwatch help <command>` for details."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum SilenceAction {
    /// Mute the alerts all MATCHERS match (name=value, name!=value, name=~regex,
    /// name!~regex); prints the new silence's id.
    Add {
        /// Matchers, e.g. model=gpt-4o severity=~warning|info.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 2h (at most 1y).
        #[arg(long, default_value = "1h")]
        duration: driftwatch::config::types::DurationSpec,
        /// Who is silencing.
        #[arg(long)]
        author: String,
        /// Why.
        #[arg(long)]
        comment: String,
        /// End the silence once the alerts it muted have resolved.
        #[arg(long)]
        expire_on_resolve: bool,
    },
    /// List silences, newest first.
    Ls,
    /// Expire a silence now.
    Expire {
        /// The silence's id.
        id: String,
    },
}

#[derive(Subcommand)]
enum TemplateAction {
    /// Print what a receiver would be sent for sample alerts (two firing, one resolved)
    /// or for a payload file: a configured receiver (`--receiver NAME`), a webhook body
    /// preset (`--format`), or a template file (`--template`).
    Render {
        /// A receiver of the configuration, rendered with its format or templates.
        #[arg(long, conflicts_with_all = ["format", "template"])]
        receiver: Option<String>,
        /// The service configuration file (for --receiver).
        #[arg(long, short, default_value = "driftwatch.toml")]
        config: PathBuf,
        /// A webhook body preset.
        #[arg(long, value_enum, conflicts_with = "template")]
        format: Option<BodyFormatArg>,
        /// A minijinja template file (a name ending in .html escapes HTML, .json quotes JSON).
        #[arg(long)]
        template: Option<PathBuf>,
        /// A driftwatch webhook payload (JSON) to render instead of the built-in sample.
        #[arg(long)]
        alerts: Option<PathBuf>,
    },
}

/// Webhook body presets, as `--format` names them.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BodyFormatArg {
    /// driftwatch's own JSON.
    Driftwatch,
    /// Alertmanager's webhook body (version 4).
    Alertmanager,
    /// A Slack incoming-webhook message.
    Slack,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: evaluate rules on their schedules and deliver notifications.
    ///
    /// The rules are reloaded on SIGHUP, on `POST /-/reload` (bearer token) and when a
    /// file in the rules directory changes; a broken rule file keeps the previous rules
    /// running. SIGTERM or Ctrl-C stops gracefully: evaluations in flight finish, no new
    /// notifications are claimed, and the process exits within `--shutdown-grace`.
    Run {
        /// The service configuration file.
        #[arg(long, short, default_value = "driftwatch.toml")]
        config: PathBuf,
        /// The longest a graceful shutdown may take before remaining work is abandoned
        /// (claimed notifications are then retried by the next process).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        shutdown_grace: Duration,
    },
    /// Validate the configuration and every rule file; print every error; exit 1 on any.
    Check {
        /// The service configuration file.
        #[arg(long, short, default_value = "driftwatch.toml")]
        config: PathBuf,
        /// A rules directory to check instead of the one the configuration names.
        rules_dir: Option<PathBuf>,
    },
    /// Run rule unit tests: input series in compact notation and the alerts expected
    /// at given times (see rules/tests/). Exit 1 with a readable diff on any failure.
    Test {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a detector over CSV series (timestamp,value), one sample at a time using only
    /// the past; write timestamp,value,anomaly_score rows (NAB's scorer reads them).
    Score {
        /// A CSV file, or a folder of them (NAB's data/ layout).
        input: PathBuf,
        /// Output file, or folder for a folder input.
        #[arg(long, short)]
        output: PathBuf,
        /// The detector as a TOML inline table, e.g. '{ kind = "mad", sigmas = 5 }'
        /// (default: the shipped baseline detector).
        #[arg(long)]
        detector: Option<String>,
        /// Name in output file names (`<name>_<file>.csv`).
        #[arg(long, default_value = "driftwatch")]
        name: String,
        /// Write 1 where an alert would start firing and 0 elsewhere, instead of scores.
        #[arg(long)]
        alerts: bool,
    },
    /// Print the JSON Schema of rule files or of driftwatch.toml, for editors that
    /// validate and complete TOML (e.g. taplo: `#:schema ./rules.schema.json`).
    Schema {
        /// Which file kind.
        #[arg(value_enum, default_value_t = SchemaKind::Rules)]
        kind: SchemaKind,
    },
    /// Create, list or expire silences on a running driftwatch (its HTTP API).
    Silence {
        /// Base URL of the running driftwatch.
        #[arg(long, env = "DRIFTWATCH_URL", default_value = "http://127.0.0.1:9187")]
        url: String,
        /// The API token (needed to add and expire).
        #[arg(long, env = "DRIFTWATCH_API_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// What to do.
        #[command(subcommand)]
        action: SilenceAction,
    },
    /// Preview notification templates and body formats.
    Template {
        /// What to do.
        #[command(subcommand)]
        action: TemplateAction,
    },
    /// Replay rules over a source's history, as the live engine would have, sending
    /// nothing; report every alert that would have fired.
    Backtest {
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
    },
    /// Write a labelled month of simulated CMBAgent traffic (runs, steps, LLM calls, costs)
    /// to SQLite or PostgreSQL, with one incident of every kind injected, and a labels
    /// file for `backtest --incidents`. The same seed writes the same rows.
    Simulate {
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
    },
    /// Run the demo: a simulated CMBAgent workload in SQLite, the shipped rules, and a
    /// webhook receiver on loopback that prints each alert it gets.
    Demo {
        /// The rules directory.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Where the demo's SQLite files go.
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        /// Address of driftwatch's own HTTP server (/metrics).
        #[arg(long, default_value = "127.0.0.1:9187")]
        listen: String,
        /// Stop after this long, e.g. "2m" (default: until Ctrl-C).
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
    },
}

/// Which JSON Schema to print.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SchemaKind {
    /// `rules/*.toml`.
    Rules,
    /// `driftwatch.toml`.
    Config,
}

/// Output formats.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A readable table.
    Table,
    /// JSON.
    Json,
}

/// An instant: RFC 3339, "YYYY-MM-DD HH:MM:SS" (UTC), "now", or a duration ago ("7d").
fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
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

fn print_errors(errors: &ConfigErrors) {
    for e in &errors.0 {
        eprintln!("error: {e}");
    }
    eprintln!("{} error(s)", errors.0.len());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run_command(cli));
    // What still runs now was abandoned by the shutdown deadline: dropping the runtime
    // would wait for it (a blocking parse, a long synchronous step), so do not.
    runtime.shutdown_background();
    code
}

/// Runs the command `cli` names.
async fn run_command(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { config, rules_dir } => {
            let service = match load_service_config(&config) {
                Ok(s) => s,
                Err(e) => {
                    print_errors(&e);
                    return ExitCode::FAILURE;
                }
            };
            let dir = rules_dir.unwrap_or_else(|| service.rules_dir.clone());
            match load_rules(&dir, &service.rule_context()) {
                Ok(rules) => {
                    println!(
                        "ok: {} and {} rule(s) in {}",
                        config.display(),
                        rules.rules.len(),
                        dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    print_errors(&e);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            config,
            shutdown_grace,
        } => {
            let service = match load_service_config(&config) {
                Ok(s) => s,
                Err(e) => {
                    print_errors(&e);
                    return ExitCode::FAILURE;
                }
            };
            init_logging(service.log_format, &service.log_level);
            let rules = match load_rules(&service.rules_dir, &service.rule_context()) {
                Ok(r) => r,
                Err(e) => {
                    print_errors(&e);
                    return ExitCode::FAILURE;
                }
            };
            let running = match driftwatch::app::start(service, rules, Arc::new(SystemClock)).await
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            wait_for_signal(&running.reloader).await;
            tracing::info!("shutting down");
            let deadline = std::time::Instant::now() + shutdown_grace;
            // One deadline over the whole stop; the watchdog ends the process if even
            // that cannot be kept (a worker stuck in synchronous work).
            driftwatch::app::watchdog::exit_at(deadline);
            running.stop_by(deadline.into()).await;
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Command::Score {
            input,
            output,
            detector,
            name,
            alerts,
        } => {
            let config = match detector {
                None => driftwatch::detect::DetectorConfig::default_baseline(),
                Some(text) => match toml::from_str::<toml::Table>(&format!("d = {text}"))
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        t["d"]
                            .clone()
                            .try_into::<driftwatch::detect::DetectorConfig>()
                            .map_err(|e| e.to_string())
                    }) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: --detector: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let problems = config.validate();
            if !problems.is_empty() {
                eprintln!("error: --detector: {}", problems.join("; "));
                return ExitCode::FAILURE;
            }
            let mode = if alerts {
                driftwatch::score::ScoreMode::Alerts
            } else {
                driftwatch::score::ScoreMode::Score
            };
            let mut progress = |done: usize, all: usize| eprint!("\rscored {done}/{all} files");
            match driftwatch::score::score_path(
                &input,
                &output,
                &name,
                &config,
                mode,
                &mut progress,
            ) {
                Ok(s) => {
                    eprintln!();
                    println!("{} files, {} rows, {} alerts", s.files, s.rows, s.alerts);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("\nerror: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Silence { url, token, action } => {
            use driftwatch::notify::silence_client::{run, SilenceCommand};
            let command = match action {
                SilenceAction::Add {
                    matchers,
                    duration,
                    author,
                    comment,
                    expire_on_resolve,
                } => SilenceCommand::Add {
                    matchers,
                    duration: duration.to_string(),
                    author,
                    comment,
                    expire_on_resolve,
                },
                SilenceAction::Ls => SilenceCommand::List,
                SilenceAction::Expire { id } => SilenceCommand::Expire { id },
            };
            match run(&url, token.as_deref(), command).await {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Template {
            action:
                TemplateAction::Render {
                    receiver,
                    config,
                    format,
                    template,
                    alerts,
                },
        } => {
            use driftwatch::config::service::BodyFormat;
            use driftwatch::notify::preview::{preview_payload, render_preview, PreviewTarget};
            let target = match (receiver, format, template) {
                (Some(name), _, _) => {
                    let service = match load_service_config(&config) {
                        Ok(s) => s,
                        Err(e) => {
                            print_errors(&e);
                            return ExitCode::FAILURE;
                        }
                    };
                    match service.receivers.get(&name) {
                        Some(r) => PreviewTarget::Receiver {
                            name,
                            config: Box::new(r.clone()),
                        },
                        None => {
                            let names: Vec<&str> =
                                service.receivers.keys().map(String::as_str).collect();
                            eprintln!(
                                "error: no receiver {name:?} in {}; configured: {}",
                                config.display(),
                                names.join(", ")
                            );
                            return ExitCode::FAILURE;
                        }
                    }
                }
                (None, _, Some(path)) => PreviewTarget::Template(path),
                (None, Some(f), None) => PreviewTarget::Format(match f {
                    BodyFormatArg::Driftwatch => BodyFormat::Driftwatch,
                    BodyFormatArg::Alertmanager => BodyFormat::Alertmanager,
                    BodyFormatArg::Slack => BodyFormat::Slack,
                }),
                (None, None, None) => {
                    eprintln!("error: give --receiver NAME, --format or --template");
                    return ExitCode::FAILURE;
                }
            };
            let addressee = match &target {
                PreviewTarget::Receiver { name, .. } => name.clone(),
                _ => "preview".to_owned(),
            };
            match preview_payload(alerts.as_deref(), &addressee)
                .and_then(|payload| render_preview(&target, &payload))
            {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Schema { kind } => {
            let schema = match kind {
                SchemaKind::Rules => driftwatch::config::schema::rules_schema(),
                SchemaKind::Config => driftwatch::config::schema::config_schema(),
            };
            println!("{schema}");
            ExitCode::SUCCESS
        }
        Command::Test { files } => {
            let (mut passed, mut failed) = (0, 0);
            for file in &files {
                match driftwatch::ruletest::run_file(file) {
                    Ok(outcome) => {
                        passed += outcome.passed;
                        failed += outcome.failures.len();
                        for f in &outcome.failures {
                            eprintln!("FAIL {f}");
                        }
                        println!(
                            "{}: {} passed, {} failed",
                            file.display(),
                            outcome.passed,
                            outcome.failures.len()
                        );
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            println!("rule tests: {passed} passed, {failed} failed");
            if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Backtest {
            config,
            rules,
            rule,
            from,
            to,
            incidents,
            format,
            plot,
            compare,
        } => {
            let service = match load_service_config(&config) {
                Ok(s) => s,
                Err(e) => {
                    print_errors(&e);
                    return ExitCode::FAILURE;
                }
            };
            let options = BacktestOptions {
                rules_dir: rules.unwrap_or_else(|| service.rules_dir.clone()),
                config: service,
                rule,
                from,
                to: to.unwrap_or_else(chrono::Utc::now),
                incidents,
                json: format == Format::Json,
                plot,
                compare: compare.map(|v| (v[0].clone(), v[1].clone())),
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
        Command::Simulate {
            seed,
            days,
            out,
            labels,
            start,
        } => {
            use driftwatch::simulate::{default_start, simulate, summary, SimulateOptions};
            let options = SimulateOptions {
                seed,
                days,
                start: start.unwrap_or_else(default_start),
                out,
                labels,
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
        Command::Demo {
            rules,
            data_dir,
            listen,
            duration,
        } => {
            init_logging(Default::default(), "warn");
            let options = DemoOptions {
                data_dir,
                rules_dir: rules,
                listen,
                duration,
            };
            match run_demo(options).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Waits for Ctrl-C or SIGTERM; reloads the rules on every SIGHUP meanwhile.
async fn wait_for_signal(reloader: &driftwatch::app::Reloader) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                _ = hup.recv() => {
                    tracing::info!("SIGHUP received; reloading rules");
                    reloader.reload("sighup").await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = reloader;
        let _ = tokio::signal::ctrl_c().await;
    }
}
