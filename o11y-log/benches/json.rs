//! One `info!` event with two fields inside an entered, sampled span, through
//! each JSON formatter, all writing to the same counting sink (bytes are
//! counted, then discarded).
//!
//! `CARGO_TARGET_DIR=/work/target-log cargo bench -p o11y-log --bench json`
//!
//! Each variant is measured twice: in wall time (`event_in_span`) and in the
//! benchmark thread's CPU time (`event_in_span_cpu`), which stays meaningful
//! on a loaded machine.
//!
//! Every variant but `otel_only*` and `o11y_json_no_otel` also runs the
//! tracing-opentelemetry layer with an SDK tracer, as a service would.
#![allow(missing_docs)] // criterion_group! makes an undocumented function

use std::{
    hint::black_box,
    io,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use cpu_time::ThreadTime;
use criterion::{
    Criterion, criterion_group, criterion_main,
    measurement::{Measurement, ValueFormatter, WallTime},
};
use o11y_log::JsonLayer;
use opentelemetry::trace::{TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    logs::{LogBatch, LogExporter, SdkLoggerProvider},
    trace::SdkTracerProvider,
};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::{
    Layer, Registry, filter::filter_fn, fmt::MakeWriter, layer::SubscriberExt, registry::LookupSpan,
};

/// Counts bytes and discards them.
#[derive(Clone, Default)]
struct Sink(Arc<AtomicU64>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Sink;
    fn make_writer(&'a self) -> Sink {
        self.clone()
    }
}

/// Accepts log batches and drops them (stands in for an OTLP exporter).
#[derive(Debug)]
struct Discard;

impl LogExporter for Discard {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        black_box(batch.iter().count());
        Ok(())
    }
}

/// The tracing-opentelemetry layer. `all_events`: its default, every log
/// event copied into a span event; otherwise only WARN and ERROR events are
/// (the setting proposed for o11y-core).
fn otel<S>(provider: &SdkTracerProvider, all_events: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    if all_events {
        Box::new(layer)
    } else {
        Box::new(layer.with_filter(filter_fn(|meta| {
            !meta.is_event() || *meta.level() <= tracing::Level::WARN
        })))
    }
}

fn o11y(sink: &Sink) -> JsonLayer<Sink> {
    JsonLayer::new()
        .with_writer(sink.clone())
        .with_service("bench")
}

fn variants(provider: &SdkTracerProvider, sink: &Sink) -> Vec<(&'static str, Dispatch)> {
    let logs = SdkLoggerProvider::builder().build();
    let batched = SdkLoggerProvider::builder()
        .with_batch_exporter(Discard)
        .build();
    let fmt_json = || {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(sink.clone())
    };
    let registry = tracing_subscriber::registry;
    vec![
        (
            "otel_only",
            Dispatch::new(registry().with(otel(provider, true))),
        ),
        (
            "otel_only_warn_span_events",
            Dispatch::new(registry().with(otel(provider, false))),
        ),
        (
            "o11y_json",
            Dispatch::new(registry().with(otel(provider, true)).with(o11y(sink))),
        ),
        (
            "o11y_json_warn_span_events",
            Dispatch::new(registry().with(otel(provider, false)).with(o11y(sink))),
        ),
        (
            "o11y_json_current_span",
            Dispatch::new(
                registry()
                    .with(otel(provider, true))
                    .with(o11y(sink).with_current_span(true)),
            ),
        ),
        (
            "o11y_install_stack_no_log_exporter",
            Dispatch::new(
                registry()
                    .with(otel(provider, true))
                    .with(o11y(sink))
                    .with(o11y_log::otlp_layer(&logs, o11y_log::filter_from_env())),
            ),
        ),
        (
            "o11y_install_stack_batch_exporter",
            Dispatch::new(
                registry()
                    .with(otel(provider, true))
                    .with(o11y(sink))
                    .with(o11y_log::otlp_layer(&batched, o11y_log::filter_from_env())),
            ),
        ),
        (
            "o11y_install_stack_batch_exporter_warn_span_events",
            Dispatch::new(
                registry()
                    .with(otel(provider, false))
                    .with(o11y(sink))
                    .with(o11y_log::otlp_layer(&batched, o11y_log::filter_from_env())),
            ),
        ),
        (
            "fmt_json",
            Dispatch::new(registry().with(otel(provider, true)).with(fmt_json())),
        ),
        (
            "fmt_json_flatten",
            Dispatch::new(
                registry()
                    .with(otel(provider, true))
                    .with(fmt_json().flatten_event(true)),
            ),
        ),
        (
            "json_subscriber_otel_ids",
            Dispatch::new(
                registry().with(otel(provider, true)).with(
                    json_subscriber::fmt::layer()
                        .with_opentelemetry_ids(true)
                        .with_writer(sink.clone()),
                ),
            ),
        ),
    ]
}

/// The CPU time of the benchmark thread: unlike wall time, it does not count
/// the time other processes of a busy machine take from it.
struct ThreadCpu;

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn wall_time(c: &mut Criterion) {
    event_in_span(c, "event_in_span");
}

fn cpu_time(c: &mut Criterion<ThreadCpu>) {
    event_in_span(c, "event_in_span_cpu");
}

fn event_in_span<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let provider = SdkTracerProvider::builder().build();
    let sink = Sink::default();
    let mut group = c.benchmark_group(name);
    for (name, dispatch) in variants(&provider, &sink) {
        tracing::dispatcher::with_default(&dispatch, || {
            let span = tracing::info_span!("request", route = "/orders");
            let _entered = span.enter();
            group.bench_function(name, |b| {
                b.iter(|| {
                    tracing::info!(order_id = black_box(42_u64), user = "ann", "order placed")
                })
            });
        });
    }
    // The JSON layer alone, ids from an OTel context attached the way
    // o11y-http attaches its server span (no tracing-opentelemetry layer).
    let dispatch = Dispatch::new(Registry::default().with(o11y(&sink)));
    tracing::dispatcher::with_default(&dispatch, || {
        let cx = opentelemetry::Context::current()
            .with_span(provider.tracer("http").start("GET /orders"));
        let _attached = cx.attach();
        group.bench_function("o11y_json_no_otel_layer", |b| {
            b.iter(|| tracing::info!(order_id = black_box(42_u64), user = "ann", "order placed"))
        });
    });
    group.finish();
    assert!(sink.0.load(Ordering::Relaxed) > 0);
}

criterion_group!(wall, wall_time);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu_time
}
criterion_main!(wall, cpu);
