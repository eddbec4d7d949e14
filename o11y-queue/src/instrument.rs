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

pub(crate) fn span_name(operation: &str, destination: &str) -> Cow<'static, str> {
    match names::get(destination) {
        Some(names) if operation == "send" => Cow::Borrowed(names.send),
        Some(names) if operation == "process" => Cow::Borrowed(names.process),
        _ => Cow::Owned(format!("{operation} {destination}")),
    }
}

/// A destination or host name as an attribute value: interned (no
/// allocation per span) while few names have been seen.
pub(crate) fn string(value: &str) -> opentelemetry::Value {
    match names::get(value) {
        Some(names) => names.name.into(),
        None => value.to_owned().into(),
    }
}

/// Destination and host names, interned: a service talks to a handful of
/// queues, and each span would otherwise allocate its name and attribute
/// strings again. Bounded: past [`names::LIMIT`] names, spans allocate.
mod names {
    use std::{
        collections::HashMap,
        sync::{OnceLock, PoisonError, RwLock},
    };

    /// The most names kept.
    pub(super) const LIMIT: usize = 512;

    /// The strings made from one name.
    pub(super) struct Names {
        pub(super) name: &'static str,
        pub(super) send: &'static str,
        pub(super) process: &'static str,
    }

    type Table = RwLock<HashMap<Box<str>, &'static Names>>;

    fn table() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(Table::default)
    }

    pub(super) fn get(name: &str) -> Option<&'static Names> {
        let table = table();
        let read = table.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(names) = read.get(name) {
            return Some(names);
        }
        drop(read);
        let mut write = table.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(names) = write.get(name) {
            return Some(names);
        }
        if write.len() >= LIMIT || name.len() > 256 {
            return None;
        }
        // Leaked on purpose, at most LIMIT times: these live as long as the process.
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let names: &'static Names = Box::leak(Box::new(Names {
            name: leak(name.to_owned()),
            send: leak(format!("send {name}")),
            process: leak(format!("process {name}")),
        }));
        write.insert(name.into(), names);
        Some(names)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_interned_and_bounded() {
        let first = span_name("send", "orders-interned");
        assert!(matches!(first, Cow::Borrowed("send orders-interned")));
        assert_eq!(
            span_name("process", "orders-interned"),
            "process orders-interned"
        );
        assert_eq!(
            span_name("receive", "orders-interned"),
            "receive orders-interned"
        );
        for i in 0..names::LIMIT {
            let _ = span_name("send", &format!("filler-{i}"));
        }
        let late = span_name("send", "one-too-many");
        assert!(
            matches!(late, Cow::Owned(_)),
            "past the limit names are allocated"
        );
        assert_eq!(late, "send one-too-many");
        assert_eq!(string("one-too-many").as_str(), "one-too-many");
        let long = "q".repeat(300);
        assert!(matches!(span_name("send", &long), Cow::Owned(_)));
    }
}
