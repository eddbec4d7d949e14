//! The JSON layer allocates nothing per event once its thread-local buffer
//! exists (allocations are counted per thread by `allocation-counter`).

mod support;

use opentelemetry::{
    Context,
    trace::{TraceContextExt, Tracer, TracerProvider as _},
};
use tracing_subscriber::{Layer, filter::filter_fn, layer::SubscriberExt};

fn events(n: u32) {
    for i in 0..n {
        tracing::info!(a = i, b = "two", "event");
    }
}

#[test]
fn no_allocation_per_event() {
    no_allocation_per_event_with(true);
}

/// Without a stored id the correlation id is the trace id, written out per
/// line: that allocates nothing either.
#[test]
fn no_allocation_per_event_with_the_trace_id_as_correlation_id() {
    no_allocation_per_event_with(false);
}

fn no_allocation_per_event_with(stored_id: bool) {
    let (_capture, provider, out) = support::setup();
    // The tracing-opentelemetry layer sees spans only: copying an event into
    // a span event allocates, and is measured separately in the benchmark.
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("test"))
        .with_filter(filter_fn(|meta| !meta.is_event()));
    let subscriber = tracing_subscriber::registry()
        .with(otel)
        .with(support::json_layer(&out).with_writer(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request");
        let _entered = span.enter();
        let cx = Context::current().with_correlation(&provider, stored_id);
        let _attached = cx.attach();
        events(10); // warms up the thread-local buffer
        let info = allocation_counter::measure(|| events(1000));
        assert_eq!(info.count_total, 0, "{info:?}");
        // What those lines carried: one more, written where it can be read.
        let readable = tracing_subscriber::registry().with(support::json_layer(&out));
        tracing::subscriber::with_default(readable, || events(1));
        let line = out.line();
        let trace = Context::current()
            .span()
            .span_context()
            .trace_id()
            .to_string();
        let want = if stored_id { "req-1" } else { trace.as_str() };
        assert_eq!(line["correlation_id"], want, "{line}");
    });
}

trait WithCorrelation {
    fn with_correlation(
        &self,
        provider: &opentelemetry_sdk::trace::SdkTracerProvider,
        stored_id: bool,
    ) -> Self;
}

impl WithCorrelation for Context {
    fn with_correlation(
        &self,
        provider: &opentelemetry_sdk::trace::SdkTracerProvider,
        stored_id: bool,
    ) -> Self {
        use o11y_core::CorrelationContextExt as _;
        let span = provider.tracer("http").start_with_context("handler", self);
        let cx = self.with_span(span);
        if stored_id {
            cx.with_correlation_id(o11y_core::CorrelationId::parse("req-1").unwrap())
        } else {
            cx
        }
    }
}
