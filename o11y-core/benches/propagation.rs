//! Extract and inject of W3C trace context from an `http::HeaderMap`: this
//! crate's propagator against opentelemetry_sdk's `TraceContextPropagator`,
//! in the same run.
//!
//! Run: `cargo bench -p o11y-core --bench propagation`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use o11y_core::propagation::Propagator;
use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn request_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("host", "api.example.com"),
        ("user-agent", "bench/1.0"),
        ("accept", "*/*"),
        ("content-type", "application/json"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    h.insert("traceparent", HeaderValue::from_static(TP));
    h
}

fn context() -> Context {
    let sc = SpanContext::new(
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        SpanId::from_hex("b7ad6b7169203331").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    Context::new().with_remote_span_context(sc)
}

fn extract(c: &mut Criterion) {
    let headers = request_headers();
    let sdk = TraceContextPropagator::new();
    let ours = Propagator::builder()
        .baggage(false)
        .correlation_header(None)
        .build();
    let full = Propagator::default();
    let mut g = c.benchmark_group("extract");
    g.bench_function("baseline_get_to_str", |b| {
        b.iter(|| {
            black_box(
                black_box(&headers)
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok()),
            )
        })
    });
    let sc = context().span().span_context().clone();
    g.bench_function("floor_context_with_span", |b| {
        b.iter(|| {
            black_box(Context::map_current(|cx| {
                cx.with_remote_span_context(black_box(sc.clone()))
            }))
        })
    });
    g.bench_function("floor_two_lookups", |b| {
        b.iter(|| {
            black_box((
                black_box(&headers).get("traceparent").is_some(),
                black_box(&headers).get("tracestate").is_some(),
            ))
        })
    });
    g.bench_function("parse_only", |b| {
        b.iter(|| black_box(o11y_core::propagation::Traceparent::parse(black_box(TP))))
    });
    g.bench_function("sdk_trace_context", |b| {
        b.iter(|| black_box(sdk.extract(&HeaderExtractor(black_box(&headers)))))
    });
    g.bench_function("o11y_headermap", |b| {
        b.iter(|| black_box(ours.extract_headers(black_box(&headers))))
    });
    g.bench_function("o11y_headermap_full", |b| {
        b.iter(|| black_box(full.extract_headers(black_box(&headers))))
    });
    g.bench_function("o11y_text_map_propagator", |b| {
        b.iter(|| black_box(ours.extract(&HeaderExtractor(black_box(&headers)))))
    });
    g.finish();
}

fn inject(c: &mut Criterion) {
    let cx = context();
    let sdk = TraceContextPropagator::new();
    let ours = Propagator::builder()
        .baggage(false)
        .correlation_header(None)
        .build();
    let mut g = c.benchmark_group("inject");
    let mut headers = request_headers();
    g.bench_function("sdk_trace_context", |b| {
        b.iter(|| sdk.inject_context(black_box(&cx), &mut HeaderInjector(&mut headers)))
    });
    let mut headers = request_headers();
    g.bench_function("o11y_headermap", |b| {
        b.iter(|| ours.inject_headers(black_box(&cx), &mut headers))
    });
    let mut headers = request_headers();
    g.bench_function("o11y_text_map_propagator", |b| {
        b.iter(|| ours.inject_context(black_box(&cx), &mut HeaderInjector(&mut headers)))
    });
    g.finish();
}

criterion_group!(benches, extract, inject);
criterion_main!(benches);
