//! What is never recorded in clear: secret headers, secret query
//! parameters, and session parameters in paths.
//!
//! The lists follow the HTTP semantic conventions ("query string parameters
//! SHOULD be redacted by default: `AWSAccessKeyId`, `Signature`, `sig`,
//! `X-Goog-Signature`") and the credentials common APIs put in headers and
//! URLs. Layers extend them with their own names; nothing shortens them.

use http::HeaderName;

/// Headers always recorded as `[REDACTED]`, compared case-insensitively.
pub const REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
    "x-goog-api-key",
    "x-vault-token",
];

/// A header whose name contains one of these is redacted too
/// (`x-my-secret`, `x-service-token`, `x-session-id`, ...).
pub const REDACTED_HEADER_PARTS: &[&str] = &[
    "auth",
    "token",
    "secret",
    "password",
    "passwd",
    "apikey",
    "api-key",
    "session",
    "signature",
    "credential",
    "cookie",
];

/// Query parameters whose values are replaced by `REDACTED` when `url.query`
/// is recorded, compared case-insensitively.
pub const REDACTED_QUERY_PARAMS: &[&str] = &[
    "awsaccesskeyid",
    "signature",
    "sig",
    "x-goog-signature",
    "x-goog-credential",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "code",
    "client_secret",
    "password",
    "secret",
    "api_key",
    "apikey",
    "key",
    "session",
    "sessionid",
    "jsessionid",
];

/// The longest `url.path` and `url.query` recorded; longer ones are cut.
pub const MAX_URL_PART: usize = 2048;

/// Whether header `name` is redacted, given the user's own `extra` names.
pub(crate) fn header(name: &HeaderName, extra: &[HeaderName]) -> bool {
    let name_str = name.as_str(); // header names are lowercase
    extra.contains(name)
        || REDACTED_HEADERS.contains(&name_str)
        || REDACTED_HEADER_PARTS
            .iter()
            .any(|part| name_str.contains(part))
}

/// `query` with the values of secret parameters (the default list and
/// `extra`, lowercase) replaced by `REDACTED`.
pub(crate) fn query(query: &str, extra: &[String]) -> String {
    let mut out = String::with_capacity(query.len().min(MAX_URL_PART));
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((name, _)) if secret_param(name, extra) => {
                out.push_str(name);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(pair),
        }
    }
    cut(out)
}

fn secret_param(name: &str, extra: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    REDACTED_QUERY_PARAMS.contains(&lower.as_str()) || extra.contains(&lower)
}

/// `path` without `;name=value` segment parameters (`;jsessionid=...`), cut
/// at [`MAX_URL_PART`].
pub(crate) fn path(path: &str) -> String {
    if !path.contains(';') {
        return cut(path.to_owned());
    }
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .collect();
    cut(segments.join("/"))
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_URL_PART {
        let mut end = MAX_URL_PART;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_redacted_by_name_or_part() {
        let extra = [HeaderName::from_static("x-tenant-pin")];
        for name in [
            "authorization",
            "cookie",
            "x-api-key",
            "x-amz-security-token",
            "x-service-token",
            "x-my-secret",
            "x-session-id",
            "x-tenant-pin",
        ] {
            assert!(header(&HeaderName::from_static(name), &extra), "{name}");
        }
        for name in ["x-tenant", "user-agent", "accept", "x-request-id"] {
            assert!(!header(&HeaderName::from_static(name), &extra), "{name}");
        }
    }

    #[test]
    fn secret_query_parameters_are_redacted_case_insensitively() {
        let q =
            "X-Amz-Signature=abc&page=2&token=t0k&Sig=s&code=c0de&keep=1&AWSAccessKeyId=AK&flag";
        assert_eq!(
            query(q, &[]),
            "X-Amz-Signature=REDACTED&page=2&token=REDACTED&Sig=REDACTED&code=REDACTED&keep=1&AWSAccessKeyId=REDACTED&flag"
        );
        assert_eq!(query("pin=1234&a=b", &["pin".into()]), "pin=REDACTED&a=b");
        assert_eq!(query("", &[]), "");
    }

    #[test]
    fn paths_lose_segment_parameters_and_are_bounded() {
        assert_eq!(path("/cart;jsessionid=ABC123/items"), "/cart/items");
        assert_eq!(path("/a;b=c;d=e"), "/a");
        assert_eq!(path("/users/7"), "/users/7");
        let long = format!("/{}", "é".repeat(MAX_URL_PART));
        let cut = path(&long);
        assert!(cut.len() <= MAX_URL_PART && long.starts_with(&cut));
    }
}
