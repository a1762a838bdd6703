//! `driftwatch template render`: what a receiver would be sent, without sending it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use driftwatch::notify::deliver::settings::BodyFormat;
use driftwatch::notify::render::preview::{preview_payload, render_preview, PreviewTarget};

use super::load_service_or_print;

/// Arguments of `driftwatch template`.
#[derive(Args)]
pub struct TemplateArgs {
    /// What to do.
    #[command(subcommand)]
    action: TemplateAction,
}

/// What to do.
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
        format: Option<BodyFormat>,
        /// A minijinja template file (a name ending in .html escapes HTML, .json quotes JSON).
        #[arg(long)]
        template: Option<PathBuf>,
        /// A driftwatch webhook payload (JSON) to render instead of the built-in sample.
        #[arg(long)]
        alerts: Option<PathBuf>,
    },
}

/// Prints the rendered body; exit 1 when the target or the payload is unusable.
pub fn run(args: TemplateArgs) -> ExitCode {
    let TemplateAction::Render {
        receiver,
        config,
        format,
        template,
        alerts,
    } = args.action;
    let target = match (receiver, format, template) {
        (Some(name), _, _) => match receiver_target(&config, name) {
            Some(target) => target,
            None => return ExitCode::FAILURE,
        },
        (None, _, Some(path)) => PreviewTarget::Template(path),
        (None, Some(f), None) => PreviewTarget::Format(f),
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

/// The receiver `name` of the configuration at `config`, or `None` after printing why not.
fn receiver_target(config: &std::path::Path, name: String) -> Option<PreviewTarget> {
    let service = load_service_or_print(config)?;
    match service.receivers.get(&name) {
        Some(r) => Some(PreviewTarget::Receiver {
            name,
            config: Box::new(r.clone()),
        }),
        None => {
            let names: Vec<&str> = service.receivers.keys().map(String::as_str).collect();
            eprintln!(
                "error: no receiver {name:?} in {}; configured: {}",
                config.display(),
                names.join(", ")
            );
            None
        }
    }
}
