//! The HTTP server's settings: the `[server]` section as written, and its validation into
//! the listen address, the API token and the [`HttpLimits`] against slow clients, with
//! their defaults. `config` parses the file and places each problem at its line.

use std::net::SocketAddr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::types::{DurationSpec, EnvString, Problem, Secret};

/// Default of `[server] header_read_timeout`.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `[server] max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// `[server]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address to listen on, e.g. `127.0.0.1:9187` (port 0 picks a free one).
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: Spanned<String>,
    /// Bearer token that mutating API calls (`POST /-/reload`, …) must present; use
    /// `${VAR}`. Without one, mutating calls are refused.
    #[serde(default)]
    #[schemars(with = "Option<EnvString>")]
    pub api_token: Option<Spanned<EnvString>>,
    /// A client that has not sent a request's headers within this is disconnected
    /// (default 10s).
    #[serde(default)]
    pub header_read_timeout: Option<DurationSpec>,
    /// Connections open at once (default 1024); more wait until one closes.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Who may read the web console under `/ui`: `"open"` (default: anyone who reaches
    /// the port) or `"token"` (only after logging in with the API token). Changing
    /// anything always needs the login.
    #[serde(default)]
    pub console_read: ConsoleRead,
}

/// Who may read the web console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleRead {
    /// Anyone who reaches the port.
    #[default]
    Open,
    /// Only a logged-in session.
    Token,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            api_token: None,
            header_read_timeout: None,
            max_connections: None,
            console_read: ConsoleRead::Open,
        }
    }
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:9187".to_owned())
}

/// Limits on the HTTP server's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// The longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServerSection {
    /// The address to listen on, checked to be a socket address.
    pub fn listen(&self) -> Result<String, Problem> {
        let listen = self.listen.get_ref().clone();
        match listen.parse::<SocketAddr>() {
            Ok(_) => Ok(listen),
            Err(_) => Err(Problem::at(
                Some(self.listen.span()),
                format!("invalid listen address {listen:?}; expected e.g. \"127.0.0.1:9187\""),
            )),
        }
    }

    /// The API token, expanded from the environment and long enough to be a secret.
    pub fn api_token(&self) -> Result<Option<Secret>, Problem> {
        let Some(t) = &self.api_token else {
            return Ok(None);
        };
        match t.get_ref().expand() {
            Ok(v) if v.trim().len() >= 16 => Ok(Some(Secret::new(v))),
            Ok(_) => Err(Problem::at(
                Some(t.span()),
                "api_token must be at least 16 characters (use a random secret)",
            )),
            Err(e) => Err(Problem::at(Some(t.span()), e)),
        }
    }

    /// `header_read_timeout` (at least 100ms) and `max_connections` (at least 1), with
    /// their defaults.
    pub fn limits(&self) -> Result<HttpLimits, Vec<Problem>> {
        let mut limits = HttpLimits::default();
        if let Some(t) = self.header_read_timeout {
            limits.header_read_timeout = t.get();
        }
        if let Some(n) = self.max_connections {
            limits.max_connections = n;
        }
        let mut problems = Vec::new();
        if limits.header_read_timeout < Duration::from_millis(100) {
            problems.push(Problem::at(
                None,
                "server.header_read_timeout must be at least 100ms",
            ));
        }
        if limits.max_connections == 0 {
            problems.push(Problem::at(
                None,
                "server.max_connections must be at least 1",
            ));
        }
        if problems.is_empty() {
            Ok(limits)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Place;

    #[test]
    fn each_problem_says_what_is_wrong_and_where() {
        let section: ServerSection = toml::from_str(
            "listen = \"nowhere\"\napi_token = \"short\"\nheader_read_timeout = \"10ms\"\nmax_connections = 0\n",
        )
        .unwrap();
        let listen = section.listen().unwrap_err();
        assert_eq!(listen.place, Place::Span(Some(9..18)));
        assert_eq!(
            listen.message,
            "invalid listen address \"nowhere\"; expected e.g. \"127.0.0.1:9187\""
        );
        let token = section.api_token().unwrap_err();
        assert_eq!(token.place, Place::Span(Some(31..38)));
        let limits: Vec<String> = section
            .limits()
            .unwrap_err()
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert_eq!(
            limits,
            [
                "server.header_read_timeout must be at least 100ms",
                "server.max_connections must be at least 1"
            ]
        );
    }

    #[test]
    fn console_read_is_open_or_token() {
        let token: ServerSection = toml::from_str("console_read = \"token\"\n").unwrap();
        assert_eq!(token.console_read, ConsoleRead::Token);
        assert_eq!(ServerSection::default().console_read, ConsoleRead::Open);
        let bad = toml::from_str::<ServerSection>("console_read = \"closed\"\n").unwrap_err();
        assert!(bad.to_string().contains("open"), "{bad}");
    }

    #[test]
    fn an_empty_section_has_the_defaults() {
        let section = ServerSection::default();
        assert_eq!(section.listen().unwrap(), "127.0.0.1:9187");
        assert_eq!(section.api_token().unwrap(), None);
        assert_eq!(section.limits().unwrap(), HttpLimits::default());
    }
}
