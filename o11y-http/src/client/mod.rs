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
mod instrument;
#[cfg(feature = "reqwest")]
pub(crate) mod reqwest;

use std::{
    sync::Arc,
    task::{Context as TaskContext, Poll},
};

use http::Request;
use o11y_core::propagation::Propagator;
use opentelemetry::{
    metrics::MeterProvider,
    trace::{Tracer, TracerProvider},
};
use tower_layer::Layer;
use tower_service::Service;

pub use future::ResponseFuture;
pub(crate) use instrument::Instrument;

/// A request extension naming the route template of the call, for the span
/// name (`GET /users/{id}`) and `url.template`.
#[derive(Clone, Copy, Debug)]
pub struct ClientRoute(pub &'static str);

/// A request extension that turns off context injection for this request
/// (for third-party hosts); the CLIENT span is still recorded.
#[derive(Clone, Copy, Debug)]
pub struct NoPropagation;

/// Makes [`Client`] services: CLIENT spans and context injection for tower
/// HTTP clients (hyper-util's legacy client, tonic channels, ...).
#[derive(Clone)]
pub struct ClientLayer {
    config: Arc<Instrument>,
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
    /// A layer using the global providers and the installed propagator, read
    /// at the first request.
    pub fn new() -> Self {
        Self {
            config: Arc::new(Instrument::global()),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Instrument)) -> Self {
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
        self.edit(|c| c.set_tracer_provider(provider))
    }

    /// Uses the tracer and meter providers and the propagator of `guard`
    /// (telemetry built with `o11y_core::Builder::build`, not installed
    /// globally).
    pub fn guard(self, guard: &o11y_core::Guard) -> Self {
        self.edit(|c| c.set_guard(guard))
    }

    /// Uses `provider` instead of the global meter provider.
    pub fn meter_provider(self, provider: &impl MeterProvider) -> Self {
        self.edit(|c| c.set_meter_provider(provider))
    }

    /// Uses `propagator` instead of the installed one.
    pub fn propagator(self, propagator: Propagator) -> Self {
        self.edit(|c| c.set_propagator(propagator))
    }

    /// Sends W3C `baggage` to these hosts: exact names, `*.example.internal`
    /// for a domain's hosts, or `*` for every host. By default baggage goes
    /// nowhere, so what one service puts in it never reaches a third party;
    /// trace context and the correlation id are sent to every host unless a
    /// request carries [`NoPropagation`].
    pub fn baggage_hosts<I, S>(self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.edit(|c| c.add_baggage_hosts(hosts.into_iter().map(Into::into)))
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
    config: Arc<Instrument>,
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
        let route = req.extensions().get::<ClientRoute>().map(|r| r.0);
        let propagate = req.extensions().get::<NoPropagation>().is_none();
        let (method, uri) = (req.method().clone(), req.uri().clone());
        let call = self
            .config
            .start(&method, &uri, route, req.headers_mut(), propagate);
        let future = {
            let _attached = call.cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::new(future, call, self.config.clone())
    }
}
