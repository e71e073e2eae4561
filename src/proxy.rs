//! The client's address behind trusted reverse proxies: when the peer is one of
//! `server.trusted_proxies`, the client is the rightmost `X-Forwarded-For` entry that is not
//! itself a trusted proxy (entries further left were written by the client and prove nothing).

use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// An address or a CIDR block.
pub fn parse_net(value: &str) -> Option<IpNet> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .ok()
        .or_else(|| value.parse::<IpAddr>().ok().map(IpNet::from))
}

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn parse(values: &[String]) -> Self {
        Self(values.iter().filter_map(|v| parse_net(v)).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address for a request from `peer` carrying `forwarded_for`.
    pub fn client(&self, peer: SocketAddr, forwarded_for: Option<&str>) -> SocketAddr {
        if !self.trusts(peer.ip()) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        for entry in header.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                // A malformed hop: stop at the last address known good.
                return peer;
            };
            if !self.trusts(ip) {
                return SocketAddr::new(ip, 0);
            }
        }
        peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()]);
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let outsider: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        assert_eq!(
            proxies.client(proxy, Some("203.0.113.9, 10.4.4.4")).ip(),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            proxies.client(proxy, Some("1.1.1.1, 203.0.113.9")).ip(),
            "203.0.113.9".parse::<IpAddr>().unwrap(),
            "entries left of the first untrusted hop are the client's own claims"
        );
        assert_eq!(proxies.client(outsider, Some("203.0.113.9")), outsider);
        assert_eq!(proxies.client(proxy, Some("not-an-ip")), proxy);
        assert_eq!(proxies.client(proxy, None), proxy);
    }
}
