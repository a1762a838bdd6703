//! `driftwatch score`: a detector over CSV series, as NAB's scorer reads them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use driftwatch::detect::DetectorConfig;
use driftwatch::score::{score_path, ScoreMode};

/// Arguments of `driftwatch score`.
#[derive(Args)]
pub struct ScoreArgs {
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
}

/// Scores the input with the detector; exit 1 on a bad detector or an unreadable file.
pub fn run(args: ScoreArgs) -> ExitCode {
    let config = match args.detector.as_deref().map(parse_detector) {
        None => DetectorConfig::default_baseline(),
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            eprintln!("error: --detector: {e}");
            return ExitCode::FAILURE;
        }
    };
    let spec = match config.validate() {
        Ok(spec) => spec,
        Err(problems) => {
            eprintln!("error: --detector: {}", problems.join("; "));
            return ExitCode::FAILURE;
        }
    };
    let mode = if args.alerts {
        ScoreMode::Alerts
    } else {
        ScoreMode::Score
    };
    let mut progress = |done: usize, all: usize| eprint!("\rscored {done}/{all} files");
    match score_path(
        &args.input,
        &args.output,
        &args.name,
        &spec,
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

/// Parses `--detector`, a TOML inline table, as a detector configuration.
fn parse_detector(text: &str) -> Result<DetectorConfig, String> {
    // An inline table is only valid as a value, so it is parsed as the value of a key.
    toml::from_str::<toml::Table>(&format!("d = {text}"))
        .map_err(|e| e.to_string())
        .and_then(|t| {
            t["d"]
                .clone()
                .try_into::<DetectorConfig>()
                .map_err(|e| e.to_string())
        })
}
