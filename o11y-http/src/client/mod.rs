//! The client middleware: a CLIENT span per request, with the context injected.
//!
//! ```
//! use o11y_http::{ClientLayer, ClientRoute, NoPropagation};
//! use tower_layer::Layer;
//!
//! # fn wrap<S>(inner: S) -> o11y_http::Client<S> {
//! let client = ClientLayer::new().layer(inner);
//! # client }
//! // Per request: a route template for the span name, or no propagation to a third party.
//! let mut req = http::Request::get("http://users/users/7").body(()).unwrap();
//! req.extensions_mut().insert(ClientRoute("/users/{id}"));
//! req.extensions_mut().insert(NoPropagation);
//! ```

mod future;

use std::{
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use http::Request;
use o11y_core::propagation::Propagator;
use opentelemetry::{
    Context, KeyValue,
    global::BoxedTracer,
    metrics::MeterProvider,
    trace::{SpanKind, TraceContextExt, Tracer, TracerProvider},
};
use tower_layer::Layer;
use tower_service::Service;

pub use future::ResponseFuture;

use crate::{metrics::ClientMetrics, semconv as sc};

/// A request extension naming the route template of the call, for the span
/// name (`GET /users/{id}`) and `url.template`.
#[derive(Clone, Copy, Debug)]
pub struct ClientRoute(pub &'static str);

/// A request extension that turns off context injection for this request
/// (for third-party hosts); the CLIENT span is still recorded.
#[derive(Clone, Copy, Debug)]
pub struct NoPropagation;

#[derive(Clone)]
struct Config {
    tracer: Arc<BoxedTracer>,
    metrics: ClientMetrics,
    propagator: Option<Propagator>,
}

/// Makes [`Client`] services: CLIENT spans and context injection for tower
/// HTTP clients (hyper-util's legacy client, tonic channels, ...).
#[derive(Clone)]
pub struct ClientLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for ClientLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLayer").finish_non_exhaustive()
    }
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientLayer {
    /// A layer using the global providers and the installed propagator.
    pub fn new() -> Self {
        let config = Config {
            tracer: Arc::new(opentelemetry::global::tracer("o11y-http")),
            metrics: ClientMetrics::new(&opentelemetry::global::meter("o11y-http")),
            propagator: None,
        };
        Self {
            config: Arc::new(config),
        }
    }

    /// Uses `provider` instead of the global tracer provider.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).tracer =
            Arc::new(BoxedTracer::new(Box::new(provider.tracer("o11y-http"))));
        self
    }

    /// Uses `provider` instead of the global meter provider.
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        Arc::make_mut(&mut self.config).metrics = ClientMetrics::new(&provider.meter("o11y-http"));
        self
    }

    /// Uses `propagator` instead of the installed one.
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        Arc::make_mut(&mut self.config).propagator = Some(propagator);
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Client {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service made by [`ClientLayer`].
#[derive(Clone)]
pub struct Client<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl<S> Client<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResB> Service<Request<B>> for Client<S>
where
    S: Service<Request<B>, Response = http::Response<ResB>>,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let parent = Context::current();
        let method = sc::method(req.method());
        let route = req.extensions().get::<ClientRoute>().map(|r| r.0);
        let name = match route {
            Some(r) => format!("{method} {r}"),
            None => method.to_owned(),
        };
        let mut attrs = Vec::with_capacity(6);
        attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method));
        let uri = req.uri();
        if let Some(host) = uri.host() {
            attrs.push(KeyValue::new(sc::SERVER_ADDRESS, host.to_owned()));
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
            attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
        }
        attrs.push(KeyValue::new(sc::URL_FULL, redacted_url(uri)));
        if let Some(r) = route {
            attrs.push(KeyValue::new("url.template", r));
        }
        let metric_attrs = attrs
            .iter()
            .filter(|kv| kv.key.as_str() != sc::URL_FULL)
            .cloned()
            .collect();
        let builder = self
            .config
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attrs);
        let span = self.config.tracer.build_with_context(builder, &parent);
        let cx = parent.with_span(span);
        if req.extensions().get::<NoPropagation>().is_none() {
            let propagator = self
                .config
                .propagator
                .as_ref()
                .unwrap_or_else(|| Propagator::global());
            propagator.inject_headers(&cx, req.headers_mut());
        }
        let future = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::new(future, cx, start, self.config.metrics.clone(), metric_attrs)
    }
}

/// The URL without credentials or query (which may hold secrets).
fn redacted_url(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{scheme}://{host}:{port}{}", uri.path()),
        (Some(host), None) => format!("{scheme}://{host}{}", uri.path()),
        _ => uri.path().to_owned(),
    }
}
