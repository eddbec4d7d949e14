//! What every client integration shares: starting the CLIENT span with its
//! attributes and injected headers, and ending it with the outcome.

use crate::clock::Instant;

use http::{HeaderMap, Method, Uri};
use o11y_core::propagation::Propagator;
use opentelemetry::{
    Context, KeyValue,
    metrics::MeterProvider,
    trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider},
};

use crate::{
    metrics::ClientMetrics,
    semconv as sc,
    tracer::{AnyTracer, SpanStart},
};

/// Shared settings of the client integrations.
#[derive(Clone)]
pub(crate) struct Instrument {
    tracer: AnyTracer,
    metrics: ClientMetrics,
    propagator: Option<Propagator>,
}

/// A started CLIENT span.
pub(crate) struct Call {
    pub(crate) cx: Context,
    start: Instant,
    attrs: Vec<KeyValue>,
}

impl Instrument {
    pub(crate) fn global() -> Self {
        crate::clock::calibrate();
        Self {
            tracer: AnyTracer::global("o11y-http"),
            metrics: ClientMetrics::new(&opentelemetry::global::meter("o11y-http")),
            propagator: None,
        }
    }

    pub(crate) fn set_tracer_provider<P>(&mut self, provider: &P)
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.tracer = AnyTracer::from_provider(provider, "o11y-http");
    }

    pub(crate) fn set_telemetry(&mut self, guard: &o11y_core::Guard) {
        if let Some(tracer) = AnyTracer::from_guard(guard, "o11y-http") {
            self.tracer = tracer;
        }
        if let Some(meters) = guard.meter_provider() {
            self.set_meter_provider(&meters);
        }
        if let Some(propagator) = guard.propagator() {
            self.set_propagator(propagator);
        }
    }

    pub(crate) fn set_meter_provider(&mut self, provider: &impl MeterProvider) {
        self.metrics = ClientMetrics::new(&provider.meter("o11y-http"));
    }

    pub(crate) fn set_propagator(&mut self, propagator: Propagator) {
        self.propagator = Some(propagator);
    }

    /// Starts the span as a child of the current context and, unless
    /// `propagate` is false, injects it into `headers`.
    pub(crate) fn start(
        &self,
        method: &Method,
        uri: &Uri,
        route: Option<&'static str>,
        headers: &mut HeaderMap,
        propagate: bool,
    ) -> Call {
        let start = crate::clock::now();
        let parent = Context::current();
        let method = sc::method(method);
        let mut metric_attrs = Vec::with_capacity(6);
        metric_attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method));
        if let Some(host) = uri.host() {
            metric_attrs.push(KeyValue::new(sc::SERVER_ADDRESS, host.to_owned()));
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") {
                    443
                } else {
                    80
                });
            metric_attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
        }
        if let Some(r) = route {
            metric_attrs.push(KeyValue::new("url.template", r));
        }
        let (cx, _) = self.tracer.start(SpanStart {
            kind: SpanKind::Client,
            short_name: method,
            name: || route.map(|r| sc::span_name(method, Some(r)).into()),
            attributes: |_| {
                let mut attrs = metric_attrs.clone();
                attrs.push(KeyValue::new(sc::URL_FULL, redacted_url(uri)));
                attrs
            },
            started: None,
            links: Vec::new(),
            parent: &parent,
        });
        if propagate {
            self.propagator
                .as_ref()
                .unwrap_or_else(|| Propagator::global())
                .inject_headers(&cx, headers);
        }
        Call {
            cx,
            start,
            attrs: metric_attrs,
        }
    }

    /// Ends the span: `Ok(status)` for a response, `Err(error_type)` when
    /// there was none (timeout, connection refused, ...).
    pub(crate) fn finish(&self, mut call: Call, outcome: Result<u16, &'static str>) {
        let span = call.cx.span();
        let error_type: Option<opentelemetry::Value> = match outcome {
            Ok(code) => {
                span.set_attribute(KeyValue::new(
                    sc::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(code),
                ));
                call.attrs.push(KeyValue::new(
                    sc::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(code),
                ));
                (code >= 400).then(|| sc::status_text(code))
            }
            Err(kind) => Some(kind.into()),
        };
        if let Some(kind) = error_type {
            span.set_attribute(KeyValue::new(sc::ERROR_TYPE, kind.clone()));
            span.set_status(Status::error(""));
            call.attrs.push(KeyValue::new(sc::ERROR_TYPE, kind));
        }
        self.metrics
            .duration
            .record(call.start.elapsed().as_secs_f64(), &call.attrs);
        span.end();
    }
}

/// The URL without credentials or query (which may hold secrets).
fn redacted_url(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{scheme}://{host}:{port}{}", uri.path()),
        (Some(host), None) => format!("{scheme}://{host}{}", uri.path()),
        _ => uri.path().to_owned(),
    }
}
