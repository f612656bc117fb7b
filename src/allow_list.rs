//! Contract row 1a: the source addresses allowed to call (`ALLOWED_SOURCE_CIDRS`). The
//! address checked is the one the front door saw for the TCP connection, never a header
//! (docs/security.md, "Source allow-list").

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// An entry of the list that is not a CIDR (the entry, quoted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IPv4 or IPv6 CIDR")]
pub struct NotACidr(pub String);

/// A list of IPv4 and IPv6 networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAllowList {
    nets: Vec<IpNet>,
}

impl SourceAllowList {
    /// Parses a comma-separated list of CIDRs (`203.0.113.0/24, 2001:db8::/32`); a bare
    /// address means that address alone (`/32`, `/128`), and host bits after the prefix
    /// are ignored (`10.1.2.3/8` is `10.0.0.0/8`). `Ok(None)` when the text names no
    /// network at all (empty or only commas and spaces): the check is off. `Err` names
    /// the first entry that is not a CIDR.
    pub fn parse(text: &str) -> Result<Option<SourceAllowList>, NotACidr> {
        let mut nets = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = IpNet::from_str(entry)
                .map(|n| n.trunc())
                .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                .map_err(|_| NotACidr(entry.to_owned()))?;
            nets.push(net);
        }
        Ok((!nets.is_empty()).then_some(SourceAllowList { nets }))
    }

    /// Whether `ip` is inside one of the networks. An IPv4-mapped IPv6 address
    /// (`::ffff:203.0.113.7`) is taken as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> SourceAllowList {
        SourceAllowList::parse(text)
            .expect("valid")
            .expect("not empty")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn ipv4_and_ipv6_networks() {
        let l = list(" 203.0.113.0/24 ,2001:db8::/32,198.51.100.7");
        assert!(l.contains(ip("203.0.113.0")));
        assert!(l.contains(ip("203.0.113.255")));
        assert!(!l.contains(ip("203.0.114.1")));
        assert!(l.contains(ip("2001:db8:ffff::1")));
        assert!(!l.contains(ip("2001:db9::1")));
        assert!(l.contains(ip("198.51.100.7")));
        assert!(!l.contains(ip("198.51.100.8")));
        // IPv4-mapped IPv6 is the IPv4 address.
        assert!(l.contains(ip("::ffff:203.0.113.9")));
        assert!(!l.contains(ip("::ffff:203.0.114.9")));
        // An IPv4 network never matches a plain IPv6 address and vice versa.
        assert!(!list("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(!list("::/0").contains(ip("192.0.2.1")));
        assert!(list("0.0.0.0/0").contains(ip("192.0.2.1")));
    }

    #[test]
    fn host_bits_are_ignored_and_bare_addresses_are_hosts() {
        assert!(list("10.1.2.3/8").contains(ip("10.200.0.1")));
        assert_eq!(list("2001:db8::1").nets[0].prefix_len(), 128);
        assert_eq!(list("192.0.2.1").nets[0].prefix_len(), 32);
    }

    #[test]
    fn empty_is_off_and_garbage_is_named() {
        assert_eq!(SourceAllowList::parse(""), Ok(None));
        assert_eq!(SourceAllowList::parse(" , ,"), Ok(None));
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "example.com",
            "10.0.0.0/8;",
            "::/129",
            "1.2.3.4/-1",
        ] {
            let e = SourceAllowList::parse(&format!("192.0.2.0/24,{bad}")).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
