//! `ip_allowlist`: the client address Envoy reports must fall in one of the CIDRs.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use crate::denial::Denial;
use crate::error::{ConfigError, Env};
use crate::remote_list::{EntryKind, RemoteList, RemoteListConfig};

/// Wire form of `checks.ip_allowlist`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpAllowlistConfig {
    #[serde(default)]
    pub cidrs: Vec<String>,
    pub remote_list: Option<RemoteListConfig>,
}

#[derive(Debug, Clone, Default)]
pub struct CidrSet(Vec<IpNet>);

impl CidrSet {
    /// Parse a CIDR or a bare address (taken as a single host).
    pub fn parse_entry(s: &str) -> Option<IpNet> {
        let s = s.trim();
        s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from)).map(|n| n.trunc())
    }

    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a str>) -> Self {
        CidrSet(entries.into_iter().filter_map(Self::parse_entry).collect())
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Entries of a remote IP list: CIDRs or addresses.
pub const CIDRS: EntryKind =
    EntryKind::Values { looks_like: |s| CidrSet::parse_entry(s).is_some(), canonical: |s| s.trim().to_string() };

#[derive(Debug)]
pub struct IpAllowlist {
    cidrs: CidrSet,
    /// Name of the remote list that extends `cidrs`.
    list: Option<String>,
}

impl IpAllowlist {
    /// Compile `checks.ip_allowlist` of route `route`; its remote list, if any, is added
    /// to `lists` under the name `<route>.ip_allowlist`.
    pub fn compile(
        c: &IpAllowlistConfig,
        path: &str,
        env: &Env,
        route: &str,
        lists: &mut Vec<(RemoteList, EntryKind)>,
    ) -> Result<Self, ConfigError> {
        if c.cidrs.is_empty() && c.remote_list.is_none() {
            return Err(ConfigError::new(format!("{path}.cidrs"), "list at least one CIDR, or set a remote_list"));
        }
        let mut nets = Vec::with_capacity(c.cidrs.len());
        for (i, s) in c.cidrs.iter().enumerate() {
            let net = CidrSet::parse_entry(s).ok_or_else(|| {
                ConfigError::new(
                    format!("{path}.cidrs[{i}]"),
                    format!("\"{s}\" is not a CIDR (such as 192.30.252.0/22 or 2606:50c0::/32) or an address"),
                )
            })?;
            nets.push(net);
        }
        let list = match &c.remote_list {
            Some(rc) => {
                let name = format!("{route}.ip_allowlist");
                let lp = format!("{path}.remote_list");
                lists.push((RemoteList::compile(rc, &lp, env, &name)?, CIDRS));
                Some(name)
            }
            None => None,
        };
        Ok(IpAllowlist { cidrs: CidrSet(nets), list })
    }

    /// The name of the remote list that extends the static CIDRs.
    pub fn remote_list(&self) -> Option<&str> {
        self.list.as_deref()
    }

    /// Whether only the remote list can allow anyone.
    pub fn is_remote_only(&self) -> bool {
        self.cidrs.is_empty()
    }

    /// Allowed when the static CIDRs or the remote list (if any) hold the client.
    pub fn verify(&self, client: Option<IpAddr>, remote: Option<&CidrSet>) -> Result<(), Denial> {
        let ip = canonical(client.ok_or(Denial::ClientAddressUnknown)?);
        if self.cidrs.contains(ip) || remote.is_some_and(|r| r.contains(ip)) {
            Ok(())
        } else {
            Err(Denial::IpNotAllowed)
        }
    }
}

/// An IPv4 client reached over an IPv6 socket shows up as `::ffff:a.b.c.d`; match it
/// against the IPv4 ranges operators write.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist(cidrs: &[&str]) -> Result<IpAllowlist, ConfigError> {
        let c = IpAllowlistConfig { cidrs: cidrs.iter().map(|s| s.to_string()).collect(), remote_list: None };
        IpAllowlist::compile(&c, "ip", &|_| None, "r", &mut Vec::new())
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn v4_and_v6_ranges() {
        let a = allowlist(&["192.30.252.0/22", "2606:50c0::/32", "10.0.0.7"]).unwrap();
        assert_eq!(a.verify(ip("192.30.252.1"), None), Ok(()));
        assert_eq!(a.verify(ip("192.30.255.255"), None), Ok(()));
        assert_eq!(a.verify(ip("192.30.251.255"), None), Err(Denial::IpNotAllowed));
        assert_eq!(a.verify(ip("2606:50c0:1::1"), None), Ok(()));
        assert_eq!(a.verify(ip("2606:50c1::1"), None), Err(Denial::IpNotAllowed));
        assert_eq!(a.verify(ip("10.0.0.7"), None), Ok(()));
        assert_eq!(a.verify(ip("10.0.0.8"), None), Err(Denial::IpNotAllowed));
        assert_eq!(a.verify(ip("::ffff:192.30.252.9"), None), Ok(()));
        assert_eq!(a.verify(None, None), Err(Denial::ClientAddressUnknown));
    }

    #[test]
    fn host_bits_are_ignored_and_remote_list_is_a_union() {
        let a = allowlist(&["192.168.1.77/24"]).unwrap();
        assert_eq!(a.verify(ip("192.168.1.1"), None), Ok(()));
        let remote = CidrSet::from_entries(["203.0.113.0/24", "garbage"]);
        assert_eq!(remote.len(), 1);
        assert_eq!(a.verify(ip("203.0.113.5"), Some(&remote)), Ok(()));
        assert_eq!(a.verify(ip("203.0.114.5"), Some(&remote)), Err(Denial::IpNotAllowed));
    }

    #[test]
    fn config_errors_name_the_entry() {
        let e = allowlist(&["10.0.0.0/8", "10.0.0.0/33"]).unwrap_err().to_string();
        assert!(e.starts_with("ip.cidrs[1]: \"10.0.0.0/33\" is not a CIDR"), "{e}");
        let e = allowlist(&["example.com"]).unwrap_err().to_string();
        assert!(e.starts_with("ip.cidrs[0]:"), "{e}");
        let e = allowlist(&[]).unwrap_err().to_string();
        assert_eq!(e, "ip.cidrs: list at least one CIDR, or set a remote_list");
    }
}
