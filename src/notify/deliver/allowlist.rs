//! `allow_private` entries: the addresses, networks and host names webhooks may reach
//! even though they are not public (loopback, private ranges, …).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// One allowlist entry: an address (`127.0.0.1`, `::1`), a network (`10.0.0.0/8`), or a
/// host name (`hooks.internal`) whose resolved addresses may be private.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedDestination {
    /// Any address inside this network may be reached, whatever name led to it.
    Network(IpNet),
    /// A webhook whose URL names this host may reach the non-public addresses it
    /// resolves to (cloud metadata addresses excepted).
    Host(String),
}

impl AllowedDestination {
    /// True when `ip` is inside this entry's network (a host entry holds no network).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match self {
            AllowedDestination::Network(net) => net.contains(&ip),
            AllowedDestination::Host(_) => false,
        }
    }

    /// True when this entry names `host` (compared case-insensitively, without a
    /// trailing dot).
    pub fn names_host(&self, host: &str) -> bool {
        match self {
            AllowedDestination::Host(name) => *name == normalize_host(host),
            AllowedDestination::Network(_) => false,
        }
    }
}

/// A host name as compared: lower case, without the trailing dot of a rooted name.
pub fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl FromStr for AllowedDestination {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            // Keep what was written but compare by network: 10.1.2.3/8 means 10.0.0.0/8.
            return Ok(AllowedDestination::Network(net.trunc()));
        }
        if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(AllowedDestination::Network(IpNet::from(ip)));
        }
        let host = normalize_host(text);
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if text.contains('/') || host.is_empty() || !host.split('.').all(valid_label) {
            return Err(format!(
                "invalid allow_private entry {s:?}; expected an IP address (\"127.0.0.1\"), \
                 a network (\"10.0.0.0/8\", \"fd00::/8\") or a host name (\"hooks.internal\")"
            ));
        }
        Ok(AllowedDestination::Host(host))
    }
}

impl<'de> Deserialize<'de> for AllowedDestination {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for AllowedDestination {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AllowedDestination".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IP address (\"127.0.0.1\"), a network (\"10.0.0.0/8\") or a host name (\"hooks.internal\") that webhooks may reach although it is not public.",
            "minLength": 1
        })
    }
}

impl fmt::Display for AllowedDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedDestination::Network(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{}", net.addr())
            }
            AllowedDestination::Network(net) => write!(f, "{net}"),
            AllowedDestination::Host(host) => f.write_str(host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> AllowedDestination {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn addresses_networks_and_hosts_parse() {
        assert!(entry("127.0.0.1").contains("127.0.0.1".parse().unwrap()));
        assert!(!entry("127.0.0.1").contains("127.0.0.2".parse().unwrap()));
        assert!(entry("10.1.2.3/8").contains("10.200.0.1".parse().unwrap()));
        assert!(entry("[::1]").contains("::1".parse().unwrap()));
        assert!(entry("fd00::/8").contains("fd12::1".parse().unwrap()));
        assert!(entry("Hooks.Internal.").names_host("hooks.internal"));
        assert!(!entry("hooks.internal").names_host("evil.hooks.internal"));
        assert_eq!(entry("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(entry("::1").to_string(), "::1");
    }

    #[test]
    fn nonsense_is_refused_with_the_expected_forms() {
        for bad in ["", "10.0.0.0/33", "http://x", "a b", "-x.internal", "x/8"] {
            let err = bad.parse::<AllowedDestination>().unwrap_err();
            assert!(err.contains("expected an IP address"), "{bad}: {err}");
        }
    }
}
