//! The `driftwatch` command: run the service, check rules, or run the demo.
//!
//! This file only parses the command line and runs it on a runtime; each subcommand lives
//! in `cli/<command>.rs`.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(cli.command.run());
    // What still runs now was abandoned by the shutdown deadline: dropping the runtime
    // would wait for it (a blocking parse, a long synchronous step), so do not.
    runtime.shutdown_background();
    code
}
