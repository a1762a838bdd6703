//! URLs from configuration strings: only `http` and `https`, after `${VAR}` expansion.

use crate::types::EnvString;

/// An `http`/`https` URL from a config string (after `${VAR}` expansion): sources,
/// webhook and Alertmanager receivers.
pub fn http_url(text: &EnvString) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(&text.expand()?).map_err(|e| format!("invalid url ({e})"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("url scheme {other:?}; expected http or https")),
    }
}
