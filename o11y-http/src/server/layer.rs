//! [`ServerLayer`]: the builder of the server middleware.

use std::{any::Any, sync::Arc};

use http::{HeaderName, request::Parts};
use o11y_core::propagation::Propagator;
use opentelemetry::{metrics::MeterProvider, trace::TracerProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use tower_layer::Layer;

use super::Server;
use crate::{metrics::ServerMetrics, shared::Shared, tracer::AnyTracer};

type RouteFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;
type FilterFn = dyn Fn(&Parts) -> bool + Send + Sync;

/// Headers never recorded in clear, whatever the user asks to capture.
pub(crate) const ALWAYS_REDACTED: [HeaderName; 4] = [
    http::header::AUTHORIZATION,
    http::header::COOKIE,
    http::header::SET_COOKIE,
    http::header::PROXY_AUTHORIZATION,
];

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) tracer: AnyTracer,
    pub(crate) metrics: ServerMetrics,
    pub(crate) propagator: Option<Propagator>,
    pub(crate) route: Option<Arc<RouteFn>>,
    pub(crate) filter: Option<Arc<FilterFn>>,
    pub(crate) capture: Vec<HeaderName>,
    pub(crate) redact: Vec<HeaderName>,
    pub(crate) public_endpoint: bool,
    pub(crate) traceresponse: bool,
    pub(crate) record_query: bool,
    pub(crate) body_sizes: bool,
}

impl Config {
    pub(crate) fn propagator(&self) -> &Propagator {
        self.propagator
            .as_ref()
            .unwrap_or_else(|| Propagator::global())
    }
}

/// Traces every request of the wrapped service. See the [crate] docs.
///
/// ```
/// use o11y_http::ServerLayer;
///
/// let layer = ServerLayer::new()
///     .skip_paths(["/health", "/metrics"])
///     .capture_request_headers(["x-tenant", "authorization"]) // authorization is redacted
///     .traceresponse(true);
/// # let _ = layer;
/// ```
pub struct ServerLayer {
    /// The layer keeps every thread's handle on its settings (see
    /// [`Shared`]); the services it makes share them.
    config: Shared<Config>,
}

impl Clone for ServerLayer {
    fn clone(&self) -> Self {
        Self {
            config: self.config.keeper(),
        }
    }
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("public_endpoint", &self.config.public_endpoint)
            .finish_non_exhaustive()
    }
}

impl Default for ServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerLayer {
    /// A layer using the global tracer and meter providers and the propagator
    /// that `o11y::init` installed.
    pub fn new() -> Self {
        crate::clock::calibrate();
        let meter = opentelemetry::global::meter("o11y-http");
        // The global meter provider is known to be the SDK's when o11y installed it.
        let sdk = o11y_core::installed_meter_provider().is_some();
        let config = Config {
            tracer: AnyTracer::global("o11y-http"),
            metrics: ServerMetrics::new(&meter, sdk),
            propagator: None,
            route: None,
            filter: None,
            capture: Vec::new(),
            redact: Vec::new(),
            public_endpoint: false,
            traceresponse: false,
            record_query: false,
            body_sizes: false,
        };
        Self {
            config: Shared::new(Arc::new(config)),
        }
    }

    fn edit(self, f: impl FnOnce(&mut Config)) -> Self {
        Self {
            config: self.config.edited(f),
        }
    }

    /// Uses `provider` instead of the global tracer provider.
    pub fn tracer_provider<P>(self, provider: &P) -> Self
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as opentelemetry::trace::Tracer>::Span: Send + Sync + 'static,
    {
        let tracer = AnyTracer::from_provider(provider, "o11y-http");
        self.edit(|c| c.tracer = tracer)
    }

    /// Uses `guard`'s providers and propagator (telemetry that o11y built
    /// without installing it globally, see `o11y_core::Builder::build`). Its
    /// sampler is then asked before the SDK builds a span it would drop
    /// ([`o11y_core::Presampler`]), as with the providers `o11y::init`
    /// installs.
    pub fn telemetry(self, guard: &o11y_core::Guard) -> Self {
        let mut layer = self;
        if let Some(tracer) = AnyTracer::from_guard(guard, "o11y-http") {
            layer = layer.edit(|c| c.tracer = tracer);
        }
        if let Some(meters) = guard.meter_provider() {
            layer = layer.meter_provider(&meters);
        }
        match guard.propagator() {
            Some(propagator) => layer.propagator(propagator),
            None => layer,
        }
    }

    /// Uses `provider` instead of the global meter provider.
    pub fn meter_provider<P: MeterProvider + 'static>(self, provider: &P) -> Self {
        let sdk = (provider as &dyn Any).is::<SdkMeterProvider>();
        let metrics = ServerMetrics::new(&provider.meter("o11y-http"), sdk);
        self.edit(|c| c.metrics = metrics)
    }

    /// Uses `propagator` instead of the installed one.
    pub fn propagator(self, propagator: Propagator) -> Self {
        self.edit(|c| c.propagator = Some(propagator))
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
    /// through untouched (no span, no metrics).
    pub fn filter(self, filter: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.edit(|c| c.filter = Some(Arc::new(filter)))
    }

    /// Skips requests whose path is exactly one of `paths` (health checks).
    pub fn skip_paths<I, S>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let paths: Vec<String> = paths.into_iter().map(Into::into).collect();
        self.filter(move |parts| !paths.iter().any(|p| p == parts.uri.path()))
    }

    /// Records these request headers as `http.request.header.<name>`.
    /// `Authorization`, `Cookie`, `Set-Cookie`, `Proxy-Authorization` and the
    /// [`redact`](Self::redact) list are recorded as `[REDACTED]`.
    pub fn capture_request_headers<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<HeaderName> = names
            .into_iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_ref().as_bytes()).ok())
            .collect();
        self.edit(|c| c.capture = names)
    }

    /// More headers never recorded in clear.
    pub fn redact<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Vec<HeaderName> = names
            .into_iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_ref().as_bytes()).ok())
            .collect();
        self.edit(|c| c.redact = names)
    }

    /// Public-endpoint mode: an incoming trace context becomes a link of a
    /// new root span instead of its parent (for services facing the internet).
    pub fn public_endpoint(self, public: bool) -> Self {
        self.edit(|c| c.public_endpoint = public)
    }

    /// Adds a `traceresponse` header (W3C Trace Context Level 2) to responses.
    pub fn traceresponse(self, enabled: bool) -> Self {
        self.edit(|c| c.traceresponse = enabled)
    }

    /// Records `http.server.request.body.size` and
    /// `http.server.response.body.size` (bytes, from `Content-Length` where
    /// the message has one). Off by default: two more measurements per request.
    pub fn record_body_sizes(self, enabled: bool) -> Self {
        self.edit(|c| c.body_sizes = enabled)
    }

    /// Records `url.query` (off by default: queries may hold secrets).
    pub fn record_query(self, enabled: bool) -> Self {
        self.edit(|c| c.record_query = enabled)
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = Server<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Server {
            inner,
            config: self.config.keeper(),
        }
    }
}
