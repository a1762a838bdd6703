//! `driftwatch silence add|ls|expire`: the silences API of a running driftwatch, from the
//! command line.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use driftwatch::types::DurationSpec;

/// Arguments of `driftwatch silence`.
#[derive(Args)]
pub struct SilenceArgs {
    /// Base URL of the running driftwatch.
    #[arg(long, env = "DRIFTWATCH_URL", default_value = "http://127.0.0.1:9187")]
    url: String,
    /// The API token (needed to add and expire).
    #[arg(long, env = "DRIFTWATCH_API_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    action: SilenceAction,
}

/// What to do.
#[derive(Subcommand)]
enum SilenceAction {
    /// Mute the alerts all MATCHERS match (name=value, name!=value, name=~regex,
    /// name!~regex); prints the new silence's id.
    Add {
        /// Matchers, e.g. model=gpt-4o severity=~warning|info.
        #[arg(required = true)]
        matchers: Vec<String>,
        /// How long, e.g. 2h (at most 1y).
        #[arg(long, default_value = "1h")]
        duration: DurationSpec,
        /// Who is silencing.
        #[arg(long)]
        author: String,
        /// Why.
        #[arg(long)]
        comment: String,
        /// End the silence once the alerts it muted have resolved.
        #[arg(long)]
        expire_on_resolve: bool,
    },
    /// List silences, newest first.
    Ls,
    /// Expire a silence now.
    Expire {
        /// The silence's id.
        id: String,
    },
}

/// Runs the action against the API; prints its answer, or the error and exit 1.
pub async fn run(args: SilenceArgs) -> ExitCode {
    match request(&args.url, args.token.as_deref(), args.action).await {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The string at `key` of a JSON object, or "" when it is missing or not a string.
fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(|x| x.as_str()).unwrap_or("")
}

/// The JSON answer of a successful response, or the API's error message with its status.
async fn answer(response: reqwest::Response) -> Result<serde_json::Value, String> {
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .map_err(|e| format!("HTTP {status}: unreadable answer ({e})"))?;
    if status.is_success() {
        Ok(body)
    } else {
        let message = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no message");
        let hint = if status == reqwest::StatusCode::UNAUTHORIZED {
            " (give the API token with --token or DRIFTWATCH_API_TOKEN)"
        } else {
            ""
        };
        Err(format!("HTTP {status}: {message}{hint}"))
    }
}

/// Runs one action against the API at `base` (e.g. `http://127.0.0.1:9187`); returns
/// what to print.
async fn request(
    base: &str,
    token: Option<&str>,
    command: SilenceAction,
) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/api/v1/silences", base.trim_end_matches('/'));
    let authed = |r: reqwest::RequestBuilder| match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let send = |r: reqwest::RequestBuilder| async move {
        r.send()
            .await
            .map_err(|e| format!("cannot reach {base}: {e}"))
    };
    match command {
        SilenceAction::Add {
            matchers,
            duration,
            author,
            comment,
            expire_on_resolve,
        } => {
            let body = serde_json::json!({
                "matchers": matchers,
                "duration": duration.to_string(),
                "created_by": author,
                "comment": comment,
                "expire_on_resolve": expire_on_resolve,
            });
            let v = answer(send(authed(client.post(&url).json(&body))).await?).await?;
            Ok(format!("{}\n", text(&v, "id")))
        }
        SilenceAction::Expire { id } => {
            answer(send(authed(client.delete(format!("{url}/{id}")))).await?).await?;
            Ok(format!("expired {id}\n"))
        }
        SilenceAction::Ls => {
            let v = answer(send(client.get(&url)).await?).await?;
            let mut out = String::new();
            for s in v
                .get("silences")
                .and_then(|s| s.as_array())
                .into_iter()
                .flatten()
            {
                let ends = text(s, "ends_at");
                let ended = chrono::DateTime::parse_from_rfc3339(ends)
                    .is_ok_and(|t| t <= chrono::Utc::now());
                let state = match (
                    s.get("active").and_then(|a| a.as_bool()) == Some(true),
                    ended,
                ) {
                    (true, _) => "active",
                    (false, true) => "expired",
                    (false, false) => "pending",
                };
                let matchers: Vec<&str> = s
                    .get("matchers")
                    .and_then(|m| m.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str())
                    .collect();
                let _ = writeln!(
                    out,
                    "{}  {state:<7}  until {ends}  by {}  {}  # {}",
                    text(s, "id"),
                    text(s, "created_by"),
                    matchers.join(","),
                    text(s, "comment"),
                );
            }
            Ok(out)
        }
    }
}
