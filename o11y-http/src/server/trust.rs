//! [`Trust`]: how far a server believes what a caller says about itself.

use std::{fmt, net::IpAddr, str::FromStr};

use http::{HeaderName, Request};

/// How far a [`ServerLayer`](crate::ServerLayer) trusts the context a
/// caller sends: `traceparent`, `tracestate`, `baggage`, and the
/// `Forwarded`/`X-Forwarded-For` headers behind `client.address`.
///
/// A trusted caller's trace is continued and its baggage kept. An untrusted
/// caller's trace becomes a *link* of a new root span (so it cannot force
/// sampling or fill the span queue), its baggage is dropped, and
/// `client.address` is the connection's peer. The correlation id is kept
/// either way: it is validated, and it is what the caller quotes back.
///
/// The default is [`Trust::All`]: most services sit behind an edge and are
/// called by their own peers, whose traces they must continue. Set
/// [`Trust::None`] (or a list of networks) on the service that faces the
/// internet.
///
/// ```
/// use o11y_http::{ServerLayer, Trust};
///
/// let edge = ServerLayer::new().trust(Trust::None);
/// let internal = ServerLayer::new().trust(Trust::networks(["10.0.0.0/8", "127.0.0.1/32"]).unwrap());
/// # let _ = (edge, internal);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// Every caller is trusted (the default).
    #[default]
    All,
    /// No caller is trusted: every request starts a new trace, linked to the
    /// caller's.
    None,
    /// Callers whose connection peer is in one of these networks are
    /// trusted. The peer is axum's `ConnectInfo<SocketAddr>`
    /// (`into_make_service_with_connect_info`) or a `SocketAddr` request
    /// extension; a request without one is not trusted.
    Networks(Vec<Network>),
    /// Requests that carry this header are trusted: a proxy in front sets it
    /// on the requests it vouches for, and must remove it from the others.
    Header(HeaderName),
}

impl Trust {
    /// [`Trust::Networks`] from CIDR texts (`10.0.0.0/8`, `::1/128`, or a bare
    /// address for a single host).
    pub fn networks<I, S>(networks: I) -> Result<Self, InvalidNetwork>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let networks = networks.into_iter().map(|n| n.as_ref().parse());
        networks.collect::<Result<_, _>>().map(Self::Networks)
    }

    /// Whether `req`'s caller is trusted.
    pub(crate) fn trusts<B>(&self, req: &Request<B>) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::Networks(networks) => {
                peer(req).is_some_and(|ip| networks.iter().any(|n| n.contains(ip)))
            }
            Self::Header(name) => req.headers().contains_key(name),
        }
    }
}

/// The connection's peer address, where the server provides it.
pub(crate) fn peer<B>(req: &Request<B>) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    req.extensions()
        .get::<std::net::SocketAddr>()
        .map(std::net::SocketAddr::ip)
}

/// An IP network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

/// A network text that is not `address/prefix` with a valid address and a
/// prefix within its family's length.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IP network such as 10.0.0.0/8 or ::1/128")]
pub struct InvalidNetwork(String);

impl Network {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => same_prefix(
                u128::from(net.to_bits()),
                u128::from(ip.to_bits()),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(net.to_bits(), ip.to_bits(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn same_prefix(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    let shift = u32::from(bits - prefix);
    prefix == 0 || a.checked_shr(shift) == b.checked_shr(shift)
}

impl FromStr for Network {
    type Err = InvalidNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidNetwork(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(invalid)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Network {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let ten = net("10.0.0.0/8");
        assert!(ten.contains(ip("10.255.1.2")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(ten.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!ten.contains(ip("::1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(net("fd00::/8").contains(ip("fd12::1")));
        assert!(!net("fd00::/8").contains(ip("fe80::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        assert!(net("::1/128").contains(ip("::1")));
    }

    #[test]
    fn bad_networks_are_errors() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
            "10.0.0.0/",
        ] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?}");
        }
        assert!(Trust::networks(["10.0.0.0/8", "nope"]).is_err());
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
    }

    #[test]
    fn each_setting_decides_from_its_own_evidence() {
        let peer = |addr: &str| {
            let mut req = Request::new(());
            req.extensions_mut()
                .insert(addr.parse::<std::net::SocketAddr>().unwrap());
            req
        };
        let inside = peer("10.1.2.3:5000");
        let outside = peer("203.0.113.9:5000");
        let nothing = Request::new(());
        assert!(Trust::All.trusts(&outside) && Trust::All.trusts(&nothing));
        assert!(!Trust::None.trusts(&inside));
        let networks = Trust::networks(["10.0.0.0/8"]).unwrap();
        assert!(networks.trusts(&inside));
        assert!(!networks.trusts(&outside));
        assert!(!networks.trusts(&nothing), "no peer, no trust");
        let header = Trust::Header(HeaderName::from_static("x-from-edge"));
        let mut vouched = Request::new(());
        vouched
            .headers_mut()
            .insert("x-from-edge", "1".parse().unwrap());
        assert!(header.trusts(&vouched));
        assert!(!header.trusts(&inside));
    }
}
