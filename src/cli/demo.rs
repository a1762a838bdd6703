//! `driftwatch demo`: a simulated workload, the shipped rules and a loopback receiver.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use driftwatch::demo::{run_demo, DemoOptions};
use driftwatch::telemetry::init_logging;

/// Arguments of `driftwatch demo`.
#[derive(Args)]
pub struct DemoArgs {
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
}

/// Runs the demo until its duration ends or Ctrl-C.
pub async fn run(args: DemoArgs) -> ExitCode {
    init_logging(Default::default(), "warn");
    let options = DemoOptions {
        data_dir: args.data_dir,
        rules_dir: args.rules,
        listen: args.listen,
        duration: args.duration,
    };
    match run_demo(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
