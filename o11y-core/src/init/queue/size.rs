//! A simple estimate of the memory a span or log record holds while it
//! waits for export: its fixed size plus the text and values it owns
//! (name, attribute keys and values, events, links, body). Deterministic:
//! the processor and the exporter compute the same figure for one item.

use std::mem::size_of;

use opentelemetry::{
    InstrumentationScope, Key, KeyValue, Value,
    logs::AnyValue,
    trace::{Event, Link, Status},
};
use opentelemetry_sdk::{logs::SdkLogRecord, trace::SpanData};

/// The estimated bytes of `span`.
pub(super) fn span(span: &SpanData) -> usize {
    let events: usize = span.events.iter().map(event).sum();
    let links: usize = span.links.iter().map(link).sum();
    let status = match &span.status {
        Status::Error { description } => description.len(),
        _ => 0,
    };
    size_of::<SpanData>()
        + span.name.len()
        + attributes(&span.attributes)
        + events
        + links
        + status
        + span.instrumentation_scope.name().len()
}

/// The estimated bytes of `record` with its `scope` (the batch log
/// processor keeps a copy of both).
pub(super) fn log(record: &SdkLogRecord, scope: &InstrumentationScope) -> usize {
    let attributes: usize = record
        .attributes_iter()
        .map(|(k, v)| size_of::<(Key, AnyValue)>() + k.as_str().len() + any(v))
        .sum();
    size_of::<SdkLogRecord>()
        + size_of::<InstrumentationScope>()
        + scope.name().len()
        + record.target().map_or(0, |t| t.len())
        + record.body().map_or(0, any)
        + attributes
}

fn event(e: &Event) -> usize {
    size_of::<Event>() + e.name.len() + attributes(&e.attributes)
}

fn link(l: &Link) -> usize {
    size_of::<Link>() + attributes(&l.attributes)
}

fn attributes(kvs: &[KeyValue]) -> usize {
    kvs.iter()
        .map(|kv| size_of::<KeyValue>() + kv.key.as_str().len() + value(&kv.value))
        .sum()
}

/// The bytes `v` owns beyond its inline size.
fn value(v: &Value) -> usize {
    use opentelemetry::Array;
    match v {
        Value::String(s) => s.as_str().len(),
        Value::Array(Array::String(a)) => a.iter().map(|s| size_of_val(s) + s.as_str().len()).sum(),
        Value::Array(Array::Bool(a)) => a.len(),
        Value::Array(Array::I64(a)) => a.len() * 8,
        Value::Array(Array::F64(a)) => a.len() * 8,
        _ => 0,
    }
}

/// The bytes `v` owns beyond its inline size.
fn any(v: &AnyValue) -> usize {
    match v {
        AnyValue::String(s) => s.as_str().len(),
        AnyValue::Bytes(b) => b.len(),
        AnyValue::ListAny(l) => l.iter().map(|v| size_of::<AnyValue>() + any(v)).sum(),
        AnyValue::Map(m) => m
            .iter()
            .map(|(k, v)| size_of::<(Key, AnyValue)>() + k.as_str().len() + any(v))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::{
        logs::{LogRecord as _, Logger as _, LoggerProvider as _},
        trace::{Span as _, Tracer as _, TracerProvider as _},
    };
    use opentelemetry_sdk::{
        logs::{InMemoryLogExporter, SdkLoggerProvider},
        trace::{InMemorySpanExporter, SdkTracerProvider},
    };

    use super::*;

    fn one_span(f: impl FnOnce(&mut opentelemetry_sdk::trace::Span)) -> SpanData {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let mut span = provider.tracer("t").start("s");
        f(&mut span);
        span.end();
        exporter.get_finished_spans().unwrap().remove(0)
    }

    #[test]
    fn a_span_grows_with_its_attributes_events_links_and_status() {
        let bare = span(&one_span(|_| {}));
        assert!(bare >= size_of::<SpanData>());
        let big = one_span(|s| {
            s.set_attribute(KeyValue::new("k", "v".repeat(1000)));
            s.add_event("e", vec![KeyValue::new("ek", "x".repeat(500))]);
            s.add_link(
                opentelemetry::trace::SpanContext::empty_context(),
                vec![KeyValue::new("lk", "y".repeat(300))],
            );
            s.set_status(Status::error("z".repeat(200)));
        });
        let grown = span(&big) - bare;
        assert!(grown >= 1000 + 500 + 300 + 200, "{grown}");
        assert!(grown < 1000 + 500 + 300 + 200 + 1024, "{grown}");
        assert_eq!(span(&big), span(&big.clone()), "same figure for a copy");
    }

    #[test]
    fn arrays_count_their_elements() {
        let strings = Value::Array(vec![opentelemetry::StringValue::from("abcd"); 10].into());
        assert!(value(&strings) >= 40);
        assert_eq!(value(&Value::Array(vec![1_i64; 10].into())), 80);
        assert_eq!(value(&Value::I64(7)), 0);
    }

    #[test]
    fn a_log_record_grows_with_its_body_and_attributes() {
        let exporter = InMemoryLogExporter::default();
        let provider = SdkLoggerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let logger = provider.logger("l");
        let emit = |body: AnyValue, attr: AnyValue| {
            let mut r = logger.create_log_record();
            r.set_body(body);
            r.add_attribute("a", attr);
            logger.emit(r);
        };
        emit("".into(), AnyValue::Int(1));
        emit(
            "b".repeat(2000).into(),
            AnyValue::ListAny(Box::new(vec!["c".repeat(700).into()])),
        );
        let logs = exporter.get_emitted_logs().unwrap();
        let [small, big] = [&logs[0], &logs[1]].map(|l| log(&l.record, &l.instrumentation));
        assert!(big - small >= 2700, "{small} {big}");
        assert!(big - small < 2700 + 256, "{small} {big}");
    }
}
