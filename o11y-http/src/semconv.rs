//! Attribute names of the stable HTTP semantic conventions, and small helpers.

use http::{Method, Version};

pub(crate) const HTTP_REQUEST_METHOD: &str = "http.request.method";
pub(crate) const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
pub(crate) const HTTP_ROUTE: &str = "http.route";
pub(crate) const URL_PATH: &str = "url.path";
pub(crate) const URL_QUERY: &str = "url.query";
pub(crate) const URL_SCHEME: &str = "url.scheme";
pub(crate) const URL_FULL: &str = "url.full";
pub(crate) const SERVER_ADDRESS: &str = "server.address";
pub(crate) const SERVER_PORT: &str = "server.port";
pub(crate) const CLIENT_ADDRESS: &str = "client.address";
pub(crate) const USER_AGENT_ORIGINAL: &str = "user_agent.original";
pub(crate) const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
pub(crate) const ERROR_TYPE: &str = "error.type";
/// The correlation id of the request (this crate's own attribute).
pub(crate) const CORRELATION_ID: &str = "correlation.id";

/// The method as the conventions want it: known methods by name, others `_OTHER`.
pub(crate) fn method(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

pub(crate) fn protocol_version(v: Version) -> Option<&'static str> {
    match v {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// `host[:port]` split for `server.address` / `server.port`. A port is the
/// digits after the last `:`, except inside a bracketed IPv6 literal; an
/// authority whose port does not parse is kept whole, without a port.
pub(crate) fn host_port(authority: &str) -> (&str, Option<u16>) {
    // A byte loop from the end: the authority is short, and this runs on
    // every sampled request.
    let bytes = authority.as_bytes();
    let Some(colon) = bytes.iter().rposition(|&b| b == b':') else {
        return (authority, None);
    };
    let (host, port) = bytes.split_at(colon);
    let port = port.get(1..).unwrap_or_default();
    if host.ends_with(b"]") && !bytes.starts_with(b"[") {
        return (authority, None);
    }
    match parse_port(port) {
        Some(p) => (authority.get(..colon).unwrap_or(authority), Some(p)),
        None => (authority, None),
    }
}

/// One or more ASCII digits (RFC 3986 `port`) with a value up to 65535.
fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(d - b'0');
        if value > u32::from(u16::MAX) {
            return None;
        }
    }
    u16::try_from(value).ok()
}

/// The status code as text for `error.type` (three ASCII digits, no formatting machinery).
pub(crate) fn status_text(code: u16) -> opentelemetry::Value {
    let digits = [
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ];
    opentelemetry::Value::from(String::from_utf8_lossy(&digits).into_owned())
}

/// `{method} {route}` without `format!`.
pub(crate) fn span_name(method: &str, route: Option<&str>) -> String {
    match route {
        Some(route) => {
            let mut name = String::with_capacity(method.len() + 1 + route.len());
            name.push_str(method);
            name.push(' ');
            name.push_str(route);
            name
        }
        None => method.to_owned(),
    }
}

/// The request headers the span's attributes read, found in one pass over
/// a small map (instead of a hash look-up each, most of which miss).
#[derive(Default)]
pub(crate) struct RequestHeaders<'a> {
    pub(crate) host: Option<&'a http::HeaderValue>,
    pub(crate) user_agent: Option<&'a http::HeaderValue>,
    forwarded: Option<&'a http::HeaderValue>,
    x_forwarded_for: Option<&'a http::HeaderValue>,
}

static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

impl<'a> RequestHeaders<'a> {
    /// The first value of each; one pass when the map is small.
    pub(crate) fn of(headers: &'a http::HeaderMap) -> Self {
        use http::header::{FORWARDED, HOST, USER_AGENT};
        if headers.len() > 16 {
            return Self {
                host: headers.get(HOST),
                user_agent: headers.get(USER_AGENT),
                forwarded: headers.get(FORWARDED),
                x_forwarded_for: headers.get(&X_FORWARDED_FOR),
            };
        }
        let mut found = Self::default();
        for (name, value) in headers {
            let slot = if *name == HOST {
                &mut found.host
            } else if *name == USER_AGENT {
                &mut found.user_agent
            } else if *name == FORWARDED {
                &mut found.forwarded
            } else if *name == X_FORWARDED_FOR {
                &mut found.x_forwarded_for
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        found
    }
}

/// `client.address`: the client behind any proxies when a proxy says so
/// (`Forwarded: for=`, then the first `X-Forwarded-For` entry), else the
/// peer of the connection when the server knows it (axum's `ConnectInfo`).
/// Only a valid IP address is taken from a header: anything else in it is
/// ignored, so a caller cannot put arbitrary text on the span.
pub(crate) fn client_address(
    headers: &RequestHeaders<'_>,
    extensions: &http::Extensions,
) -> Option<std::net::IpAddr> {
    let (forwarded, xff) = (headers.forwarded, headers.x_forwarded_for);
    let forwarded = forwarded
        .and_then(|v| v.to_str().ok())
        .and_then(forwarded_for);
    let from_headers = forwarded.or_else(|| {
        let first = xff?.to_str().ok()?.split(',').next()?.trim();
        first.parse::<std::net::IpAddr>().ok()
    });
    if from_headers.is_some() {
        return from_headers;
    }
    #[cfg(feature = "axum")]
    if let Some(peer) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return Some(peer.0.ip());
    }
    #[cfg(not(feature = "axum"))]
    let _ = extensions;
    None
}

/// The `for=` address of the first element of a `Forwarded` header (RFC 7239).
fn forwarded_for(value: &str) -> Option<std::net::IpAddr> {
    let first = value.split(',').next()?;
    let node = first.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| v.trim().trim_matches('"'))
    })?;
    let host = match node.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None => node.split(':').next()?,
    };
    host.parse().ok()
}

/// An IP address written out on the stack (at most 39 bytes for IPv6).
pub(crate) struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    pub(crate) fn new(ip: std::net::IpAddr) -> Self {
        let mut out = Self {
            buf: [0; 48],
            len: 0,
        };
        match ip {
            // The usual case, without the formatting machinery.
            std::net::IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    if octet >= 100 {
                        out.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        out.push(b'0' + octet / 10 % 10);
                    }
                    out.push(b'0' + octet % 10);
                }
            }
            std::net::IpAddr::V6(v6) => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{v6}"));
            }
        }
        out
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for b in s.bytes() {
            self.push(b);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::get("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "10.0.100.255",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn host_port_splits_like_the_standard_parser() {
        // Each case against `rsplit_once` and `str::parse` on digits only.
        fn reference(authority: &str) -> (&str, Option<u16>) {
            match authority.rsplit_once(':') {
                Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                    let digits = port.bytes().all(|b| b.is_ascii_digit());
                    match port.parse().ok().filter(|_| digits) {
                        Some(p) => (host, Some(p)),
                        None => (authority, None),
                    }
                }
                _ => (authority, None),
            }
        }
        let cases = [
            "api.local",
            "api.local:8080",
            "api.local:0",
            "api.local:65535",
            "api.local:65536",
            "api.local:",
            "api.local:80a",
            "api.local:+80",
            "api.local:008080",
            "api.local:0000000000000080",
            "api.local:4294967376",
            "[::1]:8443",
            "[::1]",
            "[2001:db8::7]",
            "::1]:80",
            "a:b:99",
            ":80",
            "",
            "h\u{e9}te:81",
        ];
        for authority in cases {
            assert_eq!(host_port(authority), reference(authority), "{authority:?}");
        }
        assert_eq!(host_port("api.local:8080"), ("api.local", Some(8080)));
        assert_eq!(host_port("[::1]:8443"), ("[::1]", Some(8443)));
        assert_eq!(host_port("api.local:99999"), ("api.local:99999", None));
        assert_eq!(host_port("api.local:+80"), ("api.local:+80", None));
    }

    #[test]
    fn request_headers_are_the_first_values_in_small_and_large_maps() {
        for filler in [0, 30] {
            let mut h = http::HeaderMap::new();
            for i in 0..filler {
                h.append(
                    http::HeaderName::try_from(format!("x-filler-{i}")).unwrap(),
                    http::HeaderValue::from_static("f"),
                );
            }
            for (name, value) in [
                ("user-agent", "ua/1"),
                ("host", "a.example"),
                ("user-agent", "ua/2"),
                ("forwarded", "for=192.0.2.1"),
                ("x-forwarded-for", "198.51.100.9"),
                ("host", "b.example"),
            ] {
                h.append(name, http::HeaderValue::from_static(value));
            }
            let found = RequestHeaders::of(&h);
            let text = |v: Option<&http::HeaderValue>| v.map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(text(found.host).as_deref(), Some("a.example"), "{filler}");
            assert_eq!(text(found.user_agent).as_deref(), Some("ua/1"), "{filler}");
            assert_eq!(text(found.forwarded).as_deref(), Some("for=192.0.2.1"));
            assert_eq!(text(found.x_forwarded_for).as_deref(), Some("198.51.100.9"));
        }
        let empty = http::HeaderMap::new();
        let none = RequestHeaders::of(&empty);
        assert!(none.host.is_none() && none.user_agent.is_none());
    }

    #[test]
    fn client_address_prefers_proxies_and_takes_only_ip_addresses() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: [Case<'_>; 9] = [
            (&[], None),
            (
                &[("x-forwarded-for", "203.0.113.7, 10.0.0.1")],
                Some("203.0.113.7"),
            ),
            (
                &[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
                Some("192.0.2.60"),
            ),
            (
                &[(
                    "forwarded",
                    "For=\"[2001:db8:cafe::17]:4711\", for=10.0.0.1",
                )],
                Some("2001:db8:cafe::17"),
            ),
            (&[("forwarded", "for=192.0.2.60:8080")], Some("192.0.2.60")),
            (
                &[
                    ("forwarded", "for=unknown"),
                    ("x-forwarded-for", "198.51.100.2"),
                ],
                Some("198.51.100.2"),
            ),
            (&[("x-forwarded-for", "<script>")], None),
            (&[("x-forwarded-for", "evil.example, 10.0.0.1")], None),
            (&[("x-forwarded-for", "0.10.100.255")], Some("0.10.100.255")),
        ];
        for (headers, want) in cases {
            let p = parts(headers);
            let got = client_address(&RequestHeaders::of(&p.headers), &p.extensions)
                .map(|ip| IpText::new(ip).as_str().to_owned());
            assert_eq!(got.as_deref(), want, "{headers:?}");
        }
    }
}
