//! What every client integration shares: starting the CLIENT span with its
//! attributes and injected headers, and ending it with the outcome.

use std::time::Instant;

use http::{HeaderMap, Method, Uri};
use opentelemetry::{
    Context, KeyValue,
    metrics::MeterProvider,
    trace::{SpanBuilder, SpanKind, Status, TraceContextExt, Tracer, TracerProvider},
};

use o11y_core::CorrelationContextExt;

use crate::{metrics::ClientMetrics, semconv as sc, tracer::Telemetry};

/// Shared settings of the client integrations.
#[derive(Clone)]
pub(crate) struct Instrument {
    telemetry: Telemetry<ClientMetrics>,
    /// Hosts that get `baggage`: exact names, `*.suffix`, or `*` for all.
    baggage_hosts: Vec<String>,
}

/// A started CLIENT span.
pub(crate) struct Call {
    pub(crate) cx: Context,
    start: Instant,
    attrs: Vec<KeyValue>,
}

impl Instrument {
    pub(crate) fn global() -> Self {
        Self {
            telemetry: Telemetry::global(ClientMetrics::global),
            baggage_hosts: Vec::new(),
        }
    }

    pub(crate) fn add_baggage_hosts(&mut self, hosts: impl IntoIterator<Item = String>) {
        let hosts = hosts.into_iter().map(|h| h.to_ascii_lowercase());
        self.baggage_hosts.extend(hosts);
    }

    /// Whether `baggage` may be sent to `host`.
    fn baggage_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host.map(str::to_ascii_lowercase) else {
            return false;
        };
        self.baggage_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix('*') {
                Some("") => true,
                Some(suffix) => suffix.starts_with('.') && host.ends_with(suffix),
                None => *allowed == host,
            })
    }

    pub(crate) fn set_tracer_provider<P>(&mut self, provider: &P)
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.telemetry.set_tracer_provider(provider);
    }

    pub(crate) fn set_guard(&mut self, guard: &o11y_core::Guard) {
        self.telemetry.set_guard(guard, ClientMetrics::new);
    }

    pub(crate) fn set_meter_provider(&mut self, provider: &impl MeterProvider) {
        let metrics = ClientMetrics::new(&crate::metrics::meter(provider));
        self.telemetry.metrics.set(metrics);
    }

    pub(crate) fn set_propagator(&mut self, propagator: o11y_core::propagation::Propagator) {
        self.telemetry.set_propagator(propagator);
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
        let start = Instant::now();
        let method = sc::method(method);
        let mut metric_attrs = Vec::with_capacity(6);
        metric_attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method));
        if let Some(host) = uri.host() {
            metric_attrs.push(KeyValue::new(sc::SERVER_ADDRESS, host.to_owned()));
            let default_port = match sc::scheme(uri) {
                "https" => 443,
                _ => 80,
            };
            let port = uri.port_u16().unwrap_or(default_port);
            metric_attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
        }
        if let Some(route) = route {
            metric_attrs.push(KeyValue::new(sc::URL_TEMPLATE, route));
        }
        let mut attrs = metric_attrs.clone();
        attrs.push(KeyValue::new(sc::URL_FULL, redacted_url(uri)));
        let name: std::borrow::Cow<'static, str> = match route {
            Some(route) => format!("{method} {route}").into(),
            None => method.into(),
        };
        let builder = SpanBuilder::from_name(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attrs);
        let parent = Context::current();
        let mut cx = self.telemetry.tracer.get().start(builder, &parent);
        if !parent.span().span_context().is_valid() {
            // A new trace, whose id the SDK drew at random (W3C Level 2 flag).
            cx = o11y_core::propagation::mark_random_trace_id(&cx);
        }
        if let (true, Some(id)) = (cx.span().is_recording(), cx.correlation()) {
            let id = id.as_str().to_owned();
            cx.span()
                .set_attribute(KeyValue::new(sc::CORRELATION_ID, id));
        }
        if propagate {
            self.telemetry.propagator().inject_headers(&cx, headers);
            if !self.baggage_allowed(uri.host()) {
                headers.remove(o11y_core::propagation::BAGGAGE);
            }
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
                let status = KeyValue::new(sc::HTTP_RESPONSE_STATUS_CODE, i64::from(code));
                span.set_attribute(status.clone());
                call.attrs.push(status);
                (code >= 400).then(|| code.to_string().into())
            }
            Err(kind) => Some(kind.into()),
        };
        if let Some(kind) = error_type {
            span.set_attribute(KeyValue::new(sc::ERROR_TYPE, kind.clone()));
            span.set_status(Status::error(""));
            call.attrs.push(KeyValue::new(sc::ERROR_TYPE, kind));
        }
        let elapsed = call.start.elapsed().as_secs_f64();
        self.telemetry
            .metrics
            .get()
            .duration
            .record(elapsed, &call.attrs);
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
