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

/// `host[:port]` split for `server.address` / `server.port`.
pub(crate) fn host_port(authority: &str) -> (&str, Option<u16>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            match port.parse() {
                Ok(p) => (host, Some(p)),
                Err(_) => (authority, None),
            }
        }
        _ => (authority, None),
    }
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
