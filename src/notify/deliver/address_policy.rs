//! Which addresses a receiver of any kind (webhook, Alertmanager, email) may connect to:
//! public unicast addresses always; loopback, private, link-local, unique-local, CGNAT,
//! multicast, reserved and cloud-metadata addresses only when allowlisted. Checked for
//! every address a connection would use.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::IpNet;

use crate::notify::deliver::allowlist::AllowedDestination;

/// Why an address is not an ordinary public destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictedRange {
    /// An instance-metadata service (169.254.169.254 and the like): holds credentials.
    CloudMetadata,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 100.64.0.0/10, the carrier-grade NAT shared space.
    SharedCgnat,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 224/4, ff00::/8.
    Multicast,
    /// Documentation, benchmarking, protocol-assignment and other reserved ranges.
    Reserved,
}

impl RestrictedRange {
    /// A short human name.
    pub fn as_str(self) -> &'static str {
        match self {
            RestrictedRange::CloudMetadata => "cloud metadata",
            RestrictedRange::Loopback => "loopback",
            RestrictedRange::Private => "private",
            RestrictedRange::LinkLocal => "link-local",
            RestrictedRange::UniqueLocal => "unique-local",
            RestrictedRange::SharedCgnat => "shared CGNAT",
            RestrictedRange::Unspecified => "unspecified",
            RestrictedRange::Broadcast => "broadcast",
            RestrictedRange::Multicast => "multicast",
            RestrictedRange::Reserved => "reserved",
        }
    }
}

/// Restricted ranges, most specific first: the first match names the range.
static RESTRICTED: LazyLock<Vec<(IpNet, RestrictedRange)>> = LazyLock::new(|| {
    use RestrictedRange::*;
    [
        // Metadata services: AWS/GCP/Azure/OpenStack, AWS ECS, Alibaba, Azure WireServer
        // (a public-range address), AWS over IPv6.
        ("169.254.169.254/32", CloudMetadata),
        ("169.254.170.2/32", CloudMetadata),
        ("100.100.100.200/32", CloudMetadata),
        ("168.63.129.16/32", CloudMetadata),
        ("fd00:ec2::254/128", CloudMetadata),
        ("0.0.0.0/32", Unspecified),
        ("0.0.0.0/8", Reserved),
        ("10.0.0.0/8", Private),
        ("100.64.0.0/10", SharedCgnat),
        ("127.0.0.0/8", Loopback),
        ("169.254.0.0/16", LinkLocal),
        ("172.16.0.0/12", Private),
        ("192.0.0.0/24", Reserved),
        ("192.0.2.0/24", Reserved),
        ("192.88.99.0/24", Reserved),
        ("192.168.0.0/16", Private),
        ("198.18.0.0/15", Reserved),
        ("198.51.100.0/24", Reserved),
        ("203.0.113.0/24", Reserved),
        ("224.0.0.0/4", Multicast),
        ("255.255.255.255/32", Broadcast),
        ("240.0.0.0/4", Reserved),
        ("::/128", Unspecified),
        ("::1/128", Loopback),
        ("64:ff9b:1::/48", Reserved),
        ("100::/64", Reserved),
        ("2001::/32", Reserved),
        ("2001:db8::/32", Reserved),
        ("fc00::/7", UniqueLocal),
        ("fe80::/10", LinkLocal),
        ("fec0::/10", Reserved),
        ("ff00::/8", Multicast),
    ]
    .into_iter()
    // All literals parse (a unit test counts them), so nothing is dropped here.
    .filter_map(|(net, range)| Some((net.parse().ok()?, range)))
    .collect()
});

/// The IPv4 address an IPv6 address carries, for the forms that reach an IPv4 host:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002::/16`).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// The range that makes `ip` a restricted destination, or `None` for a public address.
/// An IPv6 address that carries an IPv4 address is judged by the IPv4 address.
pub fn restricted_range(ip: IpAddr) -> Option<RestrictedRange> {
    if let IpAddr::V6(v6) = ip {
        if let Some(v4) = embedded_ipv4(v6) {
            return restricted_range(IpAddr::V4(v4));
        }
    }
    RESTRICTED
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, range)| *range)
}

/// A connection that the policy refused; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AddressRefused {
    /// The URL's host as written.
    pub host: String,
    /// The address it would have connected to.
    pub ip: IpAddr,
    /// Why the address is restricted.
    pub range: RestrictedRange,
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, ip, range) = (&self.host, self.ip, self.range.as_str());
        if host == &ip.to_string() {
            write!(f, "refused to connect to {ip} ({range} address)")?;
        } else {
            write!(f, "refused to connect to {host} at {ip} ({range} address)")?;
        }
        if self.range == RestrictedRange::CloudMetadata {
            write!(
                f,
                ": metadata addresses are reached only when the address itself is listed \
                 in [delivery] allow_private"
            )
        } else {
            write!(
                f,
                ": not allowlisted; list it in [delivery] allow_private or set \
                 allow_private = true on the receiver"
            )
        }
    }
}

/// The addresses one receiver may connect to.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowlist: Vec<AllowedDestination>,
    receiver_allows_private: bool,
}

impl AddressPolicy {
    /// A policy from `[delivery] allow_private` and the receiver's own `allow_private`.
    pub fn new(allowlist: &[AllowedDestination], receiver_allows_private: bool) -> Self {
        Self {
            allowlist: allowlist.to_vec(),
            receiver_allows_private,
        }
    }

    /// Whether connecting to `ip`, found for the URL host `host`, is allowed.
    ///
    /// Public addresses are. A restricted address is when an allowlisted network holds
    /// it; otherwise, unless it is a metadata address, when the receiver allows private
    /// addresses or the allowlist names `host`.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), AddressRefused> {
        let Some(range) = restricted_range(ip) else {
            return Ok(());
        };
        let unmapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let listed = |a: IpAddr| self.allowlist.iter().any(|e| e.contains(a));
        if listed(ip) || unmapped.is_some_and(listed) {
            return Ok(());
        }
        let blanket =
            self.receiver_allows_private || self.allowlist.iter().any(|e| e.names_host(host));
        if blanket && range != RestrictedRange::CloudMetadata {
            return Ok(());
        }
        Err(AddressRefused {
            host: host.to_owned(),
            ip,
            range,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(ip: &str) -> Option<RestrictedRange> {
        restricted_range(ip.parse().unwrap())
    }

    #[test]
    fn ranges_are_named_for_ipv4_and_ipv6() {
        use RestrictedRange::*;
        let cases = [
            ("127.0.0.1", Some(Loopback)),
            ("127.255.0.9", Some(Loopback)),
            ("10.0.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(Private)),
            ("169.254.169.254", Some(CloudMetadata)),
            ("169.254.1.1", Some(LinkLocal)),
            ("100.64.0.1", Some(SharedCgnat)),
            ("100.100.100.200", Some(CloudMetadata)),
            ("0.0.0.0", Some(Unspecified)),
            ("255.255.255.255", Some(Broadcast)),
            ("239.1.2.3", Some(Multicast)),
            ("198.51.100.7", Some(Reserved)),
            ("8.8.8.8", None),
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fe80::1", Some(LinkLocal)),
            ("fd12:3456::1", Some(UniqueLocal)),
            ("fd00:ec2::254", Some(CloudMetadata)),
            ("ff02::1", Some(Multicast)),
            ("2001:db8::1", Some(Reserved)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:169.254.169.254", Some(CloudMetadata)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::10.0.0.1", Some(Private)),
            ("64:ff9b::a9fe:a9fe", Some(CloudMetadata)),
            ("2002:7f00:1::1", Some(Loopback)),
            ("::ffff:8.8.8.8", None),
            ("2606:4700::1111", None),
        ];
        for (ip, want) in cases {
            assert_eq!(range(ip), want, "{ip}");
        }
    }

    #[test]
    fn every_built_in_range_parses() {
        assert_eq!(RESTRICTED.len(), 32, "a built-in network failed to parse");
    }

    fn allow(entries: &[&str], receiver: bool) -> AddressPolicy {
        let list: Vec<AllowedDestination> = entries.iter().map(|e| e.parse().unwrap()).collect();
        AddressPolicy::new(&list, receiver)
    }

    #[test]
    fn allowlists_open_only_what_they_name() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = allow(&[], false);
        assert!(none.check("example.com", ip("93.184.215.14")).is_ok());
        let err = none.check("127.0.0.1", ip("127.0.0.1")).unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        assert!(none.check("hooks.internal", ip("10.0.0.1")).is_err());

        let nets = allow(&["127.0.0.1", "10.0.0.0/8"], false);
        assert!(nets.check("x", ip("127.0.0.1")).is_ok());
        assert!(nets.check("x", ip("::ffff:127.0.0.1")).is_ok());
        assert!(nets.check("x", ip("10.9.9.9")).is_ok());
        assert!(nets.check("x", ip("127.0.0.2")).is_err());
        assert!(nets.check("x", ip("192.168.0.1")).is_err());

        let host = allow(&["hooks.internal"], false);
        assert!(host.check("hooks.internal", ip("10.0.0.1")).is_ok());
        assert!(host.check("other.internal", ip("10.0.0.1")).is_err());
        let meta = host.check("hooks.internal", ip("169.254.169.254"));
        assert!(
            meta.unwrap_err().to_string().contains("metadata"),
            "a host allowance does not open the metadata service"
        );

        let receiver = allow(&[], true);
        assert!(receiver.check("x", ip("192.168.0.1")).is_ok());
        assert!(receiver.check("x", ip("169.254.169.254")).is_err());
        assert!(allow(&["169.254.169.254"], false)
            .check("x", ip("169.254.169.254"))
            .is_ok());
    }
}
