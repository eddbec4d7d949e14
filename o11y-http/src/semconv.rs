//! The HTTP semantic conventions: attribute and metric names (from
//! `opentelemetry-semantic-conventions`) and the few values derived from a
//! request.

use std::net::IpAddr;

use http::{HeaderMap, Method, Version};

pub(crate) use opentelemetry_semantic_conventions::attribute::{
    CLIENT_ADDRESS, ERROR_TYPE, EXCEPTION_MESSAGE, EXCEPTION_TYPE, HTTP_REQUEST_HEADER,
    HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE, NETWORK_PROTOCOL_VERSION,
    SERVER_ADDRESS, SERVER_PORT, URL_FULL, URL_PATH, URL_QUERY, URL_SCHEME, URL_TEMPLATE,
    USER_AGENT_ORIGINAL,
};
pub(crate) use opentelemetry_semantic_conventions::metric::{
    HTTP_CLIENT_REQUEST_DURATION, HTTP_SERVER_ACTIVE_REQUESTS, HTTP_SERVER_REQUEST_BODY_SIZE,
    HTTP_SERVER_REQUEST_DURATION, HTTP_SERVER_RESPONSE_BODY_SIZE,
};

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

/// `url.scheme` of a request URI: `https` when it says so, else `http`.
pub(crate) fn scheme(uri: &http::Uri) -> &'static str {
    if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        "https"
    } else {
        "http"
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
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
            match port.parse().ok().filter(|_| digits) {
                Some(p) => (host, Some(p)),
                None => (authority, None),
            }
        }
        _ => (authority, None),
    }
}

/// The client behind any proxies, as a proxy says (`Forwarded: for=`, then
/// the first `X-Forwarded-For` entry); used for `client.address` when the
/// caller is trusted. Only a valid IP address is taken, so a caller cannot
/// put arbitrary text on the span.
pub(crate) fn forwarded_client(headers: &HeaderMap) -> Option<IpAddr> {
    let forwarded = headers
        .get(http::header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(forwarded_for);
    forwarded.or_else(|| {
        let xff = headers.get("x-forwarded-for")?.to_str().ok()?;
        xff.split(',').next()?.trim().parse().ok()
    })
}

/// `ip` as text; an IPv4 address without the formatting machinery (the
/// usual case, on every request).
pub(crate) fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

/// The `for=` address of the first element of a `Forwarded` header (RFC 7239).
fn forwarded_for(value: &str) -> Option<IpAddr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splits_ports_and_keeps_bad_ones_whole() {
        let cases = [
            ("api.local", ("api.local", None)),
            ("api.local:8080", ("api.local", Some(8080))),
            ("api.local:65535", ("api.local", Some(65535))),
            ("api.local:65536", ("api.local:65536", None)),
            ("api.local:", ("api.local:", None)),
            ("api.local:+80", ("api.local:+80", None)),
            ("api.local:80a", ("api.local:80a", None)),
            ("[::1]:8443", ("[::1]", Some(8443))),
            ("[2001:db8::7]", ("[2001:db8::7]", None)),
            ("::1]:80", ("::1]:80", None)),
            ("", ("", None)),
        ];
        for (authority, want) in cases {
            assert_eq!(host_port(authority), want, "{authority:?}");
        }
    }

    #[test]
    fn ip_text_matches_display() {
        for ip in ["0.0.0.0", "10.0.100.255", "9.99.199.250", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn client_address_prefers_proxies_and_takes_only_ip_addresses() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: [Case<'_>; 8] = [
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
        ];
        for (headers, want) in cases {
            let mut map = HeaderMap::new();
            for (k, v) in headers {
                map.append(*k, v.parse().unwrap());
            }
            let got = forwarded_client(&map).map(|ip| ip.to_string());
            assert_eq!(got.as_deref(), want, "{headers:?}");
        }
    }
}
