//! `driftwatch test`: rule unit tests in compact notation (see rules/tests/).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// Arguments of `driftwatch test`.
#[derive(Args)]
pub struct TestArgs {
    /// Test files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Runs every test file; exit 1 when any test fails or a file cannot be read.
pub fn run(args: TestArgs) -> ExitCode {
    let (mut passed, mut failed) = (0, 0);
    for file in &args.files {
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
