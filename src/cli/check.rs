//! `driftwatch check`: validate the configuration and every rule file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use driftwatch::rule::load_rules;

use super::{load_service_or_print, print_errors};

/// Arguments of `driftwatch check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The service configuration file.
    #[arg(long, short, default_value = "driftwatch.toml")]
    config: PathBuf,
    /// A rules directory to check instead of the one the configuration names.
    rules_dir: Option<PathBuf>,
}

/// Prints every error of the configuration and the rules; exit 1 on any.
pub fn run(args: CheckArgs) -> ExitCode {
    let Some(service) = load_service_or_print(&args.config) else {
        return ExitCode::FAILURE;
    };
    let dir = args.rules_dir.unwrap_or_else(|| service.rules_dir.clone());
    match load_rules(&dir, &service.rule_context()) {
        Ok(rules) => {
            println!(
                "ok: {} and {} rule(s) in {}",
                args.config.display(),
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
