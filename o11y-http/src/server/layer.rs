//! [`ServerLayer`]: the settings of the server middleware.

use std::sync::Arc;

use http::{HeaderName, request::Parts};
use o11y_core::propagation::Propagator;
use opentelemetry::{
    metrics::MeterProvider,
    trace::{Tracer, TracerProvider},
};
use tower_layer::Layer;

use super::{Server, Trust, config::Config};
use crate::{metrics::ServerMetrics, tracer::Telemetry};

/// Traces every request of the wrapped service. See the [crate] docs.
///
/// ```
/// use http::{HeaderName, header::AUTHORIZATION};
/// use o11y_http::ServerLayer;
///
/// let layer = ServerLayer::new()
///     .skip_paths(["/health", "/metrics"])
///     .capture_request_headers([HeaderName::from_static("x-tenant"), AUTHORIZATION]) // redacted
///     .traceresponse(true);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("skip_paths", &self.config.skip_paths)
            .field("trust", &self.config.trust)
            .finish_non_exhaustive()
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerLayer {
    /// A layer using the global tracer and meter providers and the
    /// propagator that `o11y::init` installed, read at the first request.
    pub fn new() -> Self {
        let config = Config {
            telemetry: Telemetry::global(ServerMetrics::global),
            route: None,
            filter: None,
            skip_paths: Vec::new(),
            capture: Vec::new(),
            redact: Vec::new(),
            redact_query: Vec::new(),
            trust: Trust::All,
            traceresponse: false,
            record_query: false,
            body_sizes: false,
        };
        Self {
            config: Arc::new(config),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Uses `provider` instead of the global tracer provider.
    pub fn tracer_provider<P>(self, provider: &P) -> Self
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.edit(|c| c.telemetry.set_tracer_provider(provider))
    }

    /// Uses `provider` instead of the global meter provider.
    pub fn meter_provider(self, provider: &impl MeterProvider) -> Self {
        let metrics = ServerMetrics::new(&crate::metrics::meter(provider));
        self.edit(|c| c.telemetry.metrics.set(metrics))
    }

    /// Uses `propagator` instead of the installed one.
    pub fn propagator(self, propagator: Propagator) -> Self {
        self.edit(|c| c.telemetry.set_propagator(propagator))
    }

    /// Uses the tracer and meter providers and the propagator of `guard`
    /// (telemetry built with `o11y_core::Builder::build`, not installed
    /// globally).
    pub fn guard(self, guard: &o11y_core::Guard) -> Self {
        self.edit(|c| c.telemetry.set_guard(guard, ServerMetrics::new))
    }

    /// Names spans with `route(request)` when it returns `Some` (a template
    /// such as `/users/{id}`, never the raw path). Otherwise axum's
    /// `MatchedPath` is used, then the method alone.
    pub fn route_fn(
        self,
        route: impl Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.edit(|c| c.route = Some(Arc::new(route)))
    }

    /// Traces only requests for which `filter` returns `true`; others pass
    /// through untouched (no span, no metrics). Replaces an earlier
    /// `filter`; applies together with [`skip_paths`](Self::skip_paths).
    pub fn filter(self, filter: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.edit(|c| c.filter = Some(Arc::new(filter)))
    }

    /// Leaves requests whose path is exactly one of `paths` untraced (health
    /// checks). Adds to earlier calls; applies together with
    /// [`filter`](Self::filter).
    pub fn skip_paths<I, S>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.edit(|c| c.skip_paths.extend(paths.into_iter().map(Into::into)))
    }

    /// Records these request headers as `http.request.header.<name>`.
    /// Secret headers ([`redact::REDACTED_HEADERS`](crate::redact::REDACTED_HEADERS),
    /// any name containing one of
    /// [`REDACTED_HEADER_PARTS`](crate::redact::REDACTED_HEADER_PARTS), and the
    /// [`redact`](Self::redact) list) are recorded as `[REDACTED]`.
    pub fn capture_request_headers(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        let capture = names.into_iter().map(|name| {
            let key = format!("{}.{name}", crate::semconv::HTTP_REQUEST_HEADER);
            (name, opentelemetry::Key::from(Arc::<str>::from(key)))
        });
        let capture = capture.collect();
        self.edit(|c| c.capture = capture)
    }

    /// More headers never recorded in clear (added to the default list).
    pub fn redact(self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.edit(|c| c.redact.extend(names))
    }

    /// More query parameters whose values are recorded as `REDACTED` in
    /// `url.query` (added to
    /// [`redact::REDACTED_QUERY_PARAMS`](crate::redact::REDACTED_QUERY_PARAMS);
    /// compared case-insensitively).
    pub fn redact_query_params<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names.into_iter().map(|n| n.as_ref().to_ascii_lowercase());
        self.edit(|c| c.redact_query.extend(names))
    }

    /// How far callers are trusted (default [`Trust::All`]): an untrusted
    /// caller's trace becomes a link of a new root span, its baggage is
    /// dropped, and its forwarded headers are ignored. See [`Trust`].
    pub fn trust(self, trust: Trust) -> Self {
        self.edit(|c| c.trust = trust)
    }

    /// Adds a `traceresponse` header (W3C Trace Context Level 2) to responses.
    pub fn traceresponse(self, enabled: bool) -> Self {
        self.edit(|c| c.traceresponse = enabled)
    }

    /// Records `http.server.request.body.size` (from the body's exact size
    /// or `Content-Length`) and `http.server.response.body.size` (the bytes
    /// sent). Off by default.
    pub fn record_body_sizes(self, enabled: bool) -> Self {
        self.edit(|c| c.body_sizes = enabled)
    }

    /// Records `url.query` (off by default: queries may hold secrets), with
    /// the values of secret parameters as `REDACTED`.
    pub fn record_query(self, enabled: bool) -> Self {
        self.edit(|c| c.record_query = enabled)
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = Server<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Server::new(inner, self.config.clone())
    }
}
