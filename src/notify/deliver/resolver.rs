//! Name resolution for every outbound connection that drops refused addresses before
//! any connection is made, so a name that resolves (or re-resolves, DNS rebinding) to a
//! private or metadata address cannot be reached. Plugged into reqwest as its DNS
//! resolver for webhooks and Alertmanager; email resolves its SMTP host through it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::notify::deliver::address_policy::{AddressPolicy, AddressRefused};
use crate::notify::deliver::allowlist::normalize_host;

/// Turns a host name into addresses.
pub trait HostLookup: Send + Sync {
    /// The addresses of `host`.
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (getaddrinfo on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// A fixed table of names and addresses, for tests and for pinning names without DNS.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup(HashMap<String, Vec<IpAddr>>);

impl StaticLookup {
    /// An empty table: every name is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `host` resolving to `addresses`.
    pub fn with(mut self, host: &str, addresses: &[IpAddr]) -> Self {
        self.0.insert(normalize_host(host), addresses.to_vec());
        self
    }
}

impl HostLookup for StaticLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.0.get(&normalize_host(host)).cloned();
        let host = host.to_owned();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no address for {host}"),
                )
            })
        })
    }
}

/// A reqwest resolver that looks names up and keeps only the addresses the receiver's
/// policy allows; when none is left it fails with the [`AddressRefused`] of the first.
#[derive(Clone)]
pub struct CheckedResolver {
    lookup: Arc<dyn HostLookup>,
    policy: Arc<AddressPolicy>,
}

impl CheckedResolver {
    /// A resolver applying `policy` to what `lookup` finds.
    pub fn new(lookup: Arc<dyn HostLookup>, policy: Arc<AddressPolicy>) -> Self {
        Self { lookup, policy }
    }

    /// The allowed addresses of `host`, or why there are none.
    pub async fn allowed_addresses(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let found = self.lookup.lookup(host).await?;
        let mut refused: Option<AddressRefused> = None;
        let mut allowed = Vec::with_capacity(found.len());
        for ip in found {
            match self.policy.check(host, ip) {
                Ok(()) => allowed.push(ip),
                Err(why) => {
                    tracing::warn!(host, %ip, range = why.range.as_str(), "receiver address refused");
                    refused.get_or_insert(why);
                }
            }
        }
        match (allowed.is_empty(), refused) {
            (true, Some(why)) => Err(Box::new(why)),
            (true, None) => Err(format!("{host} resolved to no address").into()),
            (false, _) => Ok(allowed),
        }
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let allowed = this.allowed_addresses(name.as_str()).await?;
            // Port 0: reqwest puts the URL's port (or the scheme's) in its place.
            let addrs: Addrs = Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_addresses_are_dropped_and_none_left_is_an_error() {
        let public: IpAddr = "93.184.215.14".parse().unwrap();
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        let lookup = StaticLookup::new()
            .with("mixed.test", &[private, public])
            .with("inside.test", &[private]);
        let resolver = CheckedResolver::new(Arc::new(lookup), Arc::new(AddressPolicy::default()));
        assert_eq!(
            resolver.allowed_addresses("mixed.test").await.unwrap(),
            vec![public]
        );
        let err = resolver.allowed_addresses("inside.test").await.unwrap_err();
        let refused = err.downcast_ref::<AddressRefused>().expect("a refusal");
        assert_eq!(refused.ip, private);
        assert!(err
            .to_string()
            .contains("inside.test at 10.0.0.1 (private address)"));
        assert!(resolver.allowed_addresses("unknown.test").await.is_err());
    }
}
