//! `driftwatch run`: the service, until SIGTERM or Ctrl-C; SIGHUP reloads the rules.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use driftwatch::clock::SystemClock;
use driftwatch::rule::load_rules;
use driftwatch::telemetry::init_logging;

use super::{load_service_or_print, print_errors};

/// Arguments of `driftwatch run`.
#[derive(Args)]
pub struct RunArgs {
    /// The service configuration file.
    #[arg(long, short, default_value = "driftwatch.toml")]
    config: PathBuf,
    /// The longest a graceful shutdown may take before remaining work is abandoned
    /// (claimed notifications are then retried by the next process).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
}

/// Starts the service and stops it gracefully on a signal.
pub async fn run(args: RunArgs) -> ExitCode {
    let Some(service) = load_service_or_print(&args.config) else {
        return ExitCode::FAILURE;
    };
    init_logging(service.log_format, &service.log_level);
    let rules = match load_rules(&service.rules_dir, &service.rule_context()) {
        Ok(r) => r,
        Err(e) => {
            print_errors(&e);
            return ExitCode::FAILURE;
        }
    };
    let running = match driftwatch::app::start(service, rules, Arc::new(SystemClock)).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal(&running.reloader).await;
    tracing::info!("shutting down");
    let deadline = std::time::Instant::now() + args.shutdown_grace;
    // One deadline over the whole stop; the watchdog ends the process if even
    // that cannot be kept (a worker stuck in synchronous work).
    driftwatch::app::watchdog::exit_at(deadline);
    running.stop_by(deadline.into()).await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
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
