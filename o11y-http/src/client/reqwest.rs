//! A reqwest-middleware [`Middleware`](reqwest_middleware::Middleware) doing
//! what [`ClientLayer`](crate::ClientLayer) does, for reqwest users.
//!
//! ```no_run
//! use o11y_http::ClientMiddleware;
//! use reqwest_middleware::ClientBuilder;
//!
//! # async fn run() -> Result<(), reqwest_middleware::Error> {
//! let client = ClientBuilder::new(reqwest::Client::new()).with(ClientMiddleware::new()).build();
//! let _resp = client.get("http://users.internal/users/7").send().await?;
//! # Ok(()) }
//! ```

use http::Extensions;
use o11y_core::propagation::Propagator;
use opentelemetry::{
    context::FutureExt as _,
    metrics::MeterProvider,
    trace::{Tracer, TracerProvider},
};
use reqwest_middleware::{Middleware, Next};

use super::{ClientRoute, Instrument, NoPropagation};

/// CLIENT spans, context injection and `http.client.request.duration` for
/// reqwest. Put [`ClientRoute`] or [`NoPropagation`] in the request's
/// extensions (`RequestBuilder::with_extension`) to name the route or to not
/// propagate to a third party.
#[derive(Clone)]
pub struct ClientMiddleware {
    instrument: Instrument,
}

impl std::fmt::Debug for ClientMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMiddleware").finish_non_exhaustive()
    }
}

impl Default for ClientMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientMiddleware {
    /// Uses the global providers and the installed propagator.
    pub fn new() -> Self {
        Self {
            instrument: Instrument::global(),
        }
    }

    /// Uses `provider` instead of the global tracer provider.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.instrument.set_tracer_provider(provider);
        self
    }

    /// Uses the tracer and meter providers and the propagator of `guard`
    /// (telemetry built with `o11y_core::Builder::build`, not installed
    /// globally).
    pub fn guard(mut self, guard: &o11y_core::Guard) -> Self {
        self.instrument.set_guard(guard);
        self
    }

    /// Uses `provider` instead of the global meter provider.
    pub fn meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.instrument.set_meter_provider(provider);
        self
    }

    /// Uses `propagator` instead of the installed one.
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.instrument.set_propagator(propagator);
        self
    }

    /// Sends W3C `baggage` to these hosts only; see
    /// [`ClientLayer::baggage_hosts`](crate::ClientLayer::baggage_hosts).
    pub fn baggage_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.instrument
            .add_baggage_hosts(hosts.into_iter().map(Into::into));
        self
    }
}

#[async_trait::async_trait]
impl Middleware for ClientMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let route = extensions.get::<ClientRoute>().map(|r| r.0);
        let propagate = extensions.get::<NoPropagation>().is_none();
        let uri: http::Uri = req.url().as_str().parse().unwrap_or_default();
        let method = req.method().clone();
        let call = self
            .instrument
            .start(&method, &uri, route, req.headers_mut(), propagate);
        let result = next
            .run(req, extensions)
            .with_context(call.cx.clone())
            .await;
        let outcome = match &result {
            Ok(resp) => Ok(resp.status().as_u16()),
            Err(e) if e.is_timeout() => Err("timeout"),
            Err(e) if e.is_connect() => Err("connect"),
            Err(reqwest_middleware::Error::Middleware(_)) => Err("middleware"),
            Err(_) => Err("reqwest::Error"),
        };
        self.instrument.finish(call, outcome);
        result
    }
}
