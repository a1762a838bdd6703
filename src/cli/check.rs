//! `driftwatch check`: validate the configuration and every rule file (rules and budgets).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use driftwatch::budget::load_budgets;
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
    let ctx = service.rule_context();
    let loaded = match (load_rules(&dir, &ctx), load_budgets(&dir, &ctx)) {
        (Ok(rules), Ok(budgets)) => Ok((rules, budgets)),
        (Err(mut a), Err(b)) => {
            a.0.extend(b.0);
            Err(a)
        }
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
    };
    match loaded {
        Ok((rules, budgets)) => {
            println!(
                "ok: {} and {} rule(s), {} budget(s) in {}",
                args.config.display(),
                rules.rules.len(),
                budgets.len(),
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
