//! Errors of this crate: each operation returns only the errors it can produce.

/// A setting (environment variable or code) has a value that cannot be used.
///
/// The message names the variable and the value, for example
/// `OTEL_TRACES_SAMPLER_ARG="2.5": the ratio must be between 0 and 1`.
/// Secrets are masked with `***`, in `value` too: every value of a
/// `*_HEADERS` variable (`authorization=***,***`: keys are kept, and an item
/// that is not `key=value` is masked whole), and the user information and
/// query of a `*_ENDPOINT` URL (`https://***@collector/?***`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable (or builder setting) that held the value.
    pub var: &'static str,
    /// The value as it was given, secrets masked (see above).
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(
        var: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            var,
            value: mask(var, value.into()),
            reason: reason.into(),
        }
    }
}

/// `value` of `var` with its secrets replaced by `***`.
fn mask(var: &str, value: String) -> String {
    if var.ends_with("_HEADERS") {
        mask_key_values(&value)
    } else if var.ends_with("_ENDPOINT") {
        mask_url(&value)
    } else {
        value
    }
}

/// `k=v,bad` becomes `k=***,***`.
pub(crate) fn mask_key_values(value: &str) -> String {
    let items: Vec<String> = value
        .split(',')
        .map(|item| match item.split_once('=') {
            Some((key, _)) => format!("{key}=***"),
            None if item.trim().is_empty() => item.to_owned(),
            None => "***".to_owned(),
        })
        .collect();
    items.join(",")
}

/// `https://user:pass@host/path?query#f` becomes `https://***@host/path?***`.
pub(crate) fn mask_url(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), value),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let path = tail.split(['?', '#']).next().unwrap_or("");
    let query = if tail.len() > path.len() { "?***" } else { "" };
    format!("{scheme}{authority}{path}{query}")
}

/// Why [`init`](crate::init) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An exporter could not be built (for example a malformed endpoint).
    #[error("building the {signal} exporter failed: {message}")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The exporter's own message.
        message: String,
    },
    /// Another global `tracing` subscriber is installed already. Use
    /// [`Builder::install_subscriber(false)`](crate::Builder::install_subscriber)
    /// and add a tracing-opentelemetry layer over
    /// [`Guard::tracer_provider`](crate::Guard::tracer_provider) to yours.
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadySet,
    /// The background runtime for the gRPC exporter could not start.
    #[error("starting the exporter runtime failed: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Why shutting down did not complete cleanly.
#[derive(Debug, thiserror::Error)]
#[error("shutdown incomplete: {}", .failures.join("; "))]
#[non_exhaustive]
pub struct ShutdownError {
    /// One message per provider that failed or timed out.
    pub failures: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_and_malformed_items_are_masked() {
        let err = ConfigError::new(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer SECRET123,oops",
            "item 2 is not key=value",
        );
        assert_eq!(err.value, "authorization=***,***");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("SECRET123") && !shown.contains("oops"),
            "{shown}"
        );
    }

    #[test]
    fn url_userinfo_and_query_are_masked() {
        for (url, masked) in [
            (
                "https://u:pw@collector:4318/v1?token=t#f",
                "https://***@collector:4318/v1?***",
            ),
            ("http://collector:4317", "http://collector:4317"),
            ("u:pw@host?k=v", "***@host?***"),
            ("http://c:43l7", "http://c:43l7"),
        ] {
            assert_eq!(mask_url(url), masked);
        }
        let err = ConfigError::new(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://a:SECRET@x y",
            "bad",
        );
        assert!(!format!("{err} {err:?}").contains("SECRET"));
    }

    #[test]
    fn other_values_are_kept() {
        let err = ConfigError::new("OTEL_TRACES_SAMPLER", "sometimes", "unknown");
        assert_eq!(err.value, "sometimes");
    }
}
