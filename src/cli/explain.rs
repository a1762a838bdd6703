//! `driftwatch explain FINGERPRINT|RULE`: why an alert's notifications were or were not
//! sent, told from the decision log in the store: the route and group each change
//! joined, the silence, inhibition, time interval or flap hold that stopped one, each
//! notification sent and each attempt to deliver it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use driftwatch::model::decision::{time_of, LogLine};
use driftwatch::store::Store;
use driftwatch::types::Fingerprint;

use super::load_service_or_print;

/// Arguments of `driftwatch explain`.
#[derive(Args)]
pub struct ExplainArgs {
    /// An alert's fingerprint (as in payloads and /api/v1/alerts), or a rule's name for
    /// the story of all its alerts.
    target: String,
    /// The service configuration file (its store is read).
    #[arg(long, short, default_value = "driftwatch.toml")]
    config: PathBuf,
    /// The newest this many decisions (and their delivery attempts).
    #[arg(long, default_value_t = 200)]
    limit: i64,
    /// Print the entries as JSON instead of sentences.
    #[arg(long)]
    json: bool,
}

/// Prints the story; exit 1 when the store cannot be read or holds nothing about it.
pub async fn run(args: ExplainArgs) -> ExitCode {
    let Some(service) = load_service_or_print(&args.config) else {
        return ExitCode::FAILURE;
    };
    match story(&service.store_url, &args.target, args.limit.max(1)).await {
        Ok(lines) if lines.is_empty() => {
            eprintln!(
                "no decisions recorded for {:?}: not an alert fingerprint or rule with notifications in the decision log (kept for [notify] decision_log_retention)",
                args.target
            );
            ExitCode::FAILURE
        }
        Ok(lines) => {
            if args.json {
                match serde_json::to_string_pretty(&lines) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", render(&lines));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The alert's story when `target` is a fingerprint, else the rule's.
async fn story(store_url: &str, target: &str, limit: i64) -> Result<Vec<LogLine>, String> {
    let store = Store::connect(store_url)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let lines = match Fingerprint::parse(target) {
        Ok(fingerprint) => store.alert_log(&fingerprint, limit).await,
        Err(_) => store.rule_log(target, limit).await,
    };
    store.close().await;
    lines.map_err(|e| e.to_string())
}

/// One line per entry: the time, the alert (when a rule's story mixes several), the
/// sentence.
fn render(lines: &[LogLine]) -> String {
    let several = lines
        .iter()
        .filter_map(|l| l.fingerprint.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let mut out = String::new();
    for l in lines {
        let who = match (&l.fingerprint, several) {
            (Some(fp), true) => format!("[{fp}] "),
            _ => String::new(),
        };
        out.push_str(&format!("{}  {who}{}\n", time_of(l.at_ms), l.text));
    }
    out
}
