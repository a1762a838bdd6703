//! `driftwatch schema`: the JSON Schema of rule files or of driftwatch.toml.

use std::process::ExitCode;

use clap::Args;

/// Arguments of `driftwatch schema`.
#[derive(Args)]
pub struct SchemaArgs {
    /// Which file kind.
    #[arg(value_enum, default_value_t = SchemaKind::Rules)]
    kind: SchemaKind,
}

/// Which JSON Schema to print.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SchemaKind {
    /// `rules/*.toml`.
    Rules,
    /// `driftwatch.toml`.
    Config,
}

/// Prints the schema on stdout.
pub fn run(args: SchemaArgs) -> ExitCode {
    let schema = match args.kind {
        SchemaKind::Rules => driftwatch::config::schema::rules_schema(),
        SchemaKind::Config => driftwatch::config::schema::config_schema(),
    };
    println!("{schema}");
    ExitCode::SUCCESS
}
