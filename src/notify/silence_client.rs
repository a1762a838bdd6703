//! `driftwatch silence add|ls|expire`: the silences API of a running driftwatch, from the
//! command line.

use std::fmt::Write as _;

/// What to do.
#[derive(Debug, Clone)]
pub enum SilenceCommand {
    /// Create a silence.
    Add {
        /// Matchers such as `model=gpt-4o` or `severity=~warning|info`.
        matchers: Vec<String>,
        /// Length, e.g. `2h`.
        duration: String,
        /// Who is silencing.
        author: String,
        /// Why.
        comment: String,
        /// End it once the alerts it muted have resolved.
        expire_on_resolve: bool,
    },
    /// List silences.
    List,
    /// Expire a silence now.
    Expire {
        /// Its id.
        id: String,
    },
}

/// The string at `key` of a JSON object, or "" when it is missing or not a string.
fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key).and_then(|x| x.as_str()).unwrap_or("")
}

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

/// Runs one command against the API at `base` (e.g. `http://127.0.0.1:9187`); returns
/// what to print.
pub async fn run(
    base: &str,
    token: Option<&str>,
    command: SilenceCommand,
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
        SilenceCommand::Add {
            matchers,
            duration,
            author,
            comment,
            expire_on_resolve,
        } => {
            let body = serde_json::json!({
                "matchers": matchers,
                "duration": duration,
                "created_by": author,
                "comment": comment,
                "expire_on_resolve": expire_on_resolve,
            });
            let v = answer(send(authed(client.post(&url).json(&body))).await?).await?;
            Ok(format!("{}\n", text(&v, "id")))
        }
        SilenceCommand::Expire { id } => {
            answer(send(authed(client.delete(format!("{url}/{id}")))).await?).await?;
            Ok(format!("expired {id}\n"))
        }
        SilenceCommand::List => {
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
