//! What a [`ServerLayer`](super::ServerLayer) was told, shared by its
//! services and their requests.

use std::sync::Arc;

use http::{HeaderName, request::Parts};

use super::Trust;
use crate::{metrics::ServerMetrics, redact, tracer::Telemetry};

type RouteFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;
type FilterFn = dyn Fn(&Parts) -> bool + Send + Sync;

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
    /// Query parameters redacted besides the default list (lowercase).
    pub(crate) redact_query: Vec<String>,
    pub(crate) trust: Trust,
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
        redact::header(name, &self.redact)
    }
}
