//! What every receiver kind's validation shares: where the receiver is declared and what
//! it may refer to ([`ReceiverSite`]), its templates (files and inline), and the check
//! that refuses at load time a literal address the address policy would refuse anyway.

use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use crate::notify::deliver::address_policy::AddressPolicy;
use crate::notify::deliver::allowlist::AllowedDestination;
use crate::notify::render::template::{Template, TemplateError};
use crate::types::{Place, Problem};

/// Where a receiver is declared, and what it may refer to.
pub struct ReceiverSite<'a> {
    /// The receiver's name (inline templates are named after it).
    pub name: &'a str,
    /// Its section's byte span in the configuration file: where its problems are placed.
    pub span: Range<usize>,
    /// The directory template and CA files are relative to.
    pub base: &'a Path,
    /// `[delivery] allow_private`.
    pub allowlist: &'a [AllowedDestination],
}

impl ReceiverSite<'_> {
    /// A problem with the receiver's section.
    pub fn problem(&self, message: impl std::fmt::Display) -> Problem {
        Problem::at(Some(self.span.clone()), message.to_string())
    }

    /// A template file's error, placed in the template file itself.
    fn template_problem(&self, e: TemplateError) -> Problem {
        Problem {
            place: Place::File {
                path: e.name.clone(),
                line: e.line.unwrap_or(0),
                column: e.column.unwrap_or(0),
            },
            message: e.message,
        }
    }

    /// Reads and compiles the template file `path` (relative to the config file).
    pub fn template_file(&self, path: &str) -> Result<Template, Problem> {
        let full = self.base.join(path);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| self.problem(format!("cannot read template {}: {e}", full.display())))?;
        Template::compile(&full.display().to_string(), &text).map_err(|e| self.template_problem(e))
    }

    /// Compiles an inline template, reporting at the receiver with the template's line.
    pub fn inline_template(&self, key: &str, source: &str) -> Result<Template, Problem> {
        Template::compile(&format!("receiver {} {key}", self.name), source).map_err(|e| {
            let at = match e.line {
                Some(line) => format!(" (line {line} of the template)"),
                None => String::new(),
            };
            self.problem(format!("`{key}`{at}: {}", e.message))
        })
    }

    /// Refuses, at load time, a URL whose host is an IP literal the address policy would
    /// refuse at every attempt anyway (names are checked when they are resolved).
    pub fn literal_host_allowed(
        &self,
        url: &reqwest::Url,
        receiver_allows_private: bool,
    ) -> Result<(), String> {
        self.literal_ip_allowed(url.host_str().unwrap_or_default(), receiver_allows_private)
    }

    /// Refuses a host that is an IP literal the address policy refuses.
    pub fn literal_ip_allowed(
        &self,
        host: &str,
        receiver_allows_private: bool,
    ) -> Result<(), String> {
        let host = host.trim_matches(['[', ']']);
        match host.parse::<IpAddr>() {
            Ok(ip) => AddressPolicy::new(self.allowlist, receiver_allows_private)
                .check(host, ip)
                .map_err(|why| why.to_string()),
            Err(_) => Ok(()),
        }
    }
}
