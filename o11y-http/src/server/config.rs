//! What a [`ServerLayer`](super::ServerLayer) was told, shared by its
//! services and their requests.

use std::sync::Arc;

use http::{HeaderName, request::Parts};

use crate::{metrics::ServerMetrics, tracer::Telemetry};

type RouteFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;
type FilterFn = dyn Fn(&Parts) -> bool + Send + Sync;

/// Headers never recorded in clear, whatever the user asks to capture.
const ALWAYS_REDACTED: [HeaderName; 4] = [
    http::header::AUTHORIZATION,
    http::header::COOKIE,
    http::header::SET_COOKIE,
    http::header::PROXY_AUTHORIZATION,
];

/// Everything a [`ServerLayer`] was told, shared by its services and their
/// requests.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) telemetry: Telemetry<ServerMetrics>,
    pub(crate) route: Option<Arc<RouteFn>>,
    pub(crate) filter: Option<Arc<FilterFn>>,
    pub(crate) skip_paths: Vec<String>,
    /// Headers to record, with their attribute keys.
    pub(crate) capture: Vec<(HeaderName, opentelemetry::Key)>,
    pub(crate) redact: Vec<HeaderName>,
    pub(crate) public_endpoint: bool,
    pub(crate) traceresponse: bool,
    pub(crate) record_query: bool,
    pub(crate) body_sizes: bool,
}

impl Config {
    /// Whether a request for `path` is left untraced by `skip_paths`.
    pub(crate) fn skips(&self, path: &str) -> bool {
        self.skip_paths.iter().any(|p| p == path)
    }

    /// Whether header `name` is recorded as `[REDACTED]`.
    pub(crate) fn redacts(&self, name: &HeaderName) -> bool {
        ALWAYS_REDACTED.contains(name) || self.redact.contains(name)
    }
}
