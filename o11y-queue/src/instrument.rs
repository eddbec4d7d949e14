//! What producers and consumers share: the tracer, the propagator and the
//! attributes every messaging span carries.

use std::{borrow::Cow, sync::Arc};

use o11y_core::propagation::Propagator;
use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    global::{BoxedTracer, ObjectSafeTracerProvider},
    metrics::MeterProvider,
    propagation::TextMapPropagator,
    trace::{Link, Span as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider},
};

use crate::{metrics::Metrics, semconv, transport::Transport};

/// The instrumentation scope name of every span this crate makes.
pub const SCOPE: &str = "o11y-queue";

/// Tracer, propagator and metric instruments, cheap to clone.
#[derive(Clone)]
pub(crate) struct Instrumentation {
    pub(crate) tracer: Arc<BoxedTracer>,
    pub(crate) propagator: Arc<dyn TextMapPropagator + Send + Sync>,
    pub(crate) metrics: Metrics,
}

impl std::fmt::Debug for Instrumentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumentation").finish_non_exhaustive()
    }
}

impl Default for Instrumentation {
    fn default() -> Self {
        let provider = opentelemetry::global::tracer_provider();
        Self {
            tracer: Arc::new(tracer_of(&provider)),
            // A message carries `x-trace-id` only when it is not its trace
            // id: consumers read that one from `traceparent`, and each extra
            // header costs the broker client's parser per message (about
            // 10 000 instructions with redis-rs).
            propagator: Arc::new(Propagator::global().clone().with_implied_correlation(false)),
            metrics: Metrics::default(),
        }
    }
}

impl Instrumentation {
    pub(crate) fn set_provider<P>(&mut self, provider: &P)
    where
        P: TracerProvider + ObjectSafeTracerProvider,
    {
        self.tracer = Arc::new(tracer_of(provider));
    }

    pub(crate) fn set_meter_provider(&mut self, provider: &impl MeterProvider) {
        self.metrics = Metrics::from_provider(provider);
    }

    pub(crate) fn set_propagator(&mut self, p: impl TextMapPropagator + Send + Sync + 'static) {
        self.propagator = Arc::new(p);
    }
}

fn tracer_of(provider: &dyn ObjectSafeTracerProvider) -> BoxedTracer {
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    BoxedTracer::new(provider.boxed_tracer(scope))
}

/// The attributes every span on `destination` carries.
pub(crate) fn base_attributes<T: Transport>(
    transport: &T,
    operation: &'static str,
    destination: &str,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(14);
    attrs.push(KeyValue::new(semconv::MESSAGING_SYSTEM, transport.system()));
    attrs.push(KeyValue::new(semconv::MESSAGING_OPERATION_NAME, operation));
    attrs.push(KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, operation));
    attrs.push(KeyValue::new(
        semconv::MESSAGING_DESTINATION_NAME,
        string(destination),
    ));
    if let Some((host, port)) = transport.server() {
        attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, string(host)));
        attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
    }
    attrs
}

/// A span's name: `{operation} {destination}`.
pub(crate) fn span_name(operation: &str, destination: &str) -> Cow<'static, str> {
    Cow::Owned(format!("{operation} {destination}"))
}

/// A destination or host name as an attribute value.
pub(crate) fn string(value: &str) -> opentelemetry::Value {
    value.to_owned().into()
}

/// A span to start with [`start`].
pub(crate) struct SpanStart<'a, A> {
    pub(crate) operation: &'static str,
    pub(crate) destination: &'a str,
    pub(crate) kind: SpanKind,
    pub(crate) links: Vec<Link>,
    pub(crate) attributes: A,
}

/// Starts `span` as a child of `parent` and returns the context holding it.
///
/// Under a sampled parent (almost always followed) the span is described up
/// front, so the sampler sees it whole. Otherwise it starts with its bare
/// operation as name and is described only once the sampler decided to
/// record it: an unsampled or no-op span pays for neither its name nor its
/// attributes.
pub(crate) fn start<A>(tracer: &BoxedTracer, parent: &Context, span: SpanStart<'_, A>) -> Context
where
    A: FnOnce() -> Vec<KeyValue>,
{
    let likely = {
        let parent = parent.span();
        let sc = parent.span_context();
        sc.is_valid() && sc.is_sampled()
    };
    let mut builder = tracer.span_builder(span.operation).with_kind(span.kind);
    if !span.links.is_empty() {
        builder = builder.with_links(span.links);
    }
    if likely {
        builder.name = span_name(span.operation, span.destination);
        builder = builder.with_attributes((span.attributes)());
        return parent.with_span(tracer.build_with_context(builder, parent));
    }
    let mut started = tracer.build_with_context(builder, parent);
    if !started.is_recording() {
        // Nothing will be recorded: keep only its identity (what children and
        // injection need), not the span object behind a lock and a box.
        let identity = started.span_context().clone();
        drop(started);
        return parent.with_remote_span_context(identity);
    }
    started.update_name(span_name(span.operation, span.destination));
    started.set_attributes((span.attributes)());
    parent.with_span(started)
}
