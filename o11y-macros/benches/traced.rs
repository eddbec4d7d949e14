//! `#[o11y::traced]` against the same span written by hand, and against
//! `tracing::instrument` bridged by `tracing-opentelemetry`, in one run.
//!
//! `cargo bench -p o11y-macros --bench traced`; figures in `BENCHMARKS.md`.
//! Spans are sampled and ended into a processor that drops them, so the
//! figures are the cost of making spans, not of exporting them.
//!
//! After criterion's figures, `paired` times `#[traced]` and its hand-written
//! twin in alternating batches and prints the median of the per-round ratios:
//! on a busy machine that ratio is steadier than two separate criterion runs.
#![allow(missing_docs)] // `criterion_group!` makes an undocumented `pub fn`

use std::{
    future::Future,
    hint::black_box,
    pin::pin,
    task::{Context as TaskContext, Poll, Waker},
    time::Duration,
};

use criterion::{Criterion, criterion_group};
use o11y::{
    opentelemetry::{
        Context, KeyValue,
        context::FutureExt as _,
        global,
        trace::{SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _},
    },
    opentelemetry_sdk::{
        error::OTelSdkResult,
        trace::{SdkTracerProvider, Span, SpanData, SpanProcessor},
    },
};
use tracing_subscriber::layer::SubscriberExt as _;

/// Drops every span.
#[derive(Debug)]
struct Discard;

impl SpanProcessor for Discard {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

fn install() {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Discard)
        .build();
    let layer = o11y::tracing_opentelemetry::layer().with_tracer(provider.tracer("tracing"));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("the only subscriber");
    global::set_tracer_provider(provider);
}

#[derive(Debug)]
struct Rejected;

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rejected")
    }
}

// --- the annotated functions ---

#[o11y::traced]
fn traced_sync(order: u64, customer: &str) -> u64 {
    order + customer.len() as u64
}

#[o11y::traced]
fn traced_err(order: u64) -> Result<u64, Rejected> {
    if order > 0 { Err(Rejected) } else { Ok(order) }
}

#[o11y::traced]
async fn traced_async(order: u64) -> u64 {
    order + 1
}

// --- the same spans by hand: what a user writes without the macro, in the
// idiomatic form (`SpanBuilder::start` takes the current context as parent) ---

fn hand_sync(order: u64, customer: &str) -> u64 {
    let tracer = global::tracer("o11y");
    let span = tracer
        .span_builder(concat!(module_path!(), "::hand_sync"))
        .with_kind(SpanKind::Internal)
        .with_attributes(vec![
            KeyValue::new("order", order as i64),
            KeyValue::new("customer", customer.to_owned()),
        ])
        .start(&tracer);
    let cx = Context::current_with_span(span);
    let _attached = cx.clone().attach();
    let result = order + customer.len() as u64;
    cx.span().end();
    result
}

fn hand_err(order: u64) -> Result<u64, Rejected> {
    let tracer = global::tracer("o11y");
    let span = tracer
        .span_builder(concat!(module_path!(), "::hand_err"))
        .with_kind(SpanKind::Internal)
        .with_attributes(vec![KeyValue::new("order", order as i64)])
        .start(&tracer);
    let cx = Context::current_with_span(span);
    let _attached = cx.clone().attach();
    let result = if order > 0 { Err(Rejected) } else { Ok(order) };
    if let Err(e) = &result {
        let span = cx.span();
        let type_name = std::any::type_name::<Rejected>();
        let message = e.to_string();
        span.set_attribute(KeyValue::new("error.type", type_name));
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", type_name),
                KeyValue::new("exception.message", message.clone()),
            ],
        );
        span.set_status(Status::error(message));
    }
    cx.span().end();
    result
}

async fn hand_async(order: u64) -> u64 {
    let tracer = global::tracer("o11y");
    let span = tracer
        .span_builder(concat!(module_path!(), "::hand_async"))
        .with_kind(SpanKind::Internal)
        .with_attributes(vec![KeyValue::new("order", order as i64)])
        .start(&tracer);
    let cx = Context::current_with_span(span);
    let result = async move { order + 1 }.with_context(cx.clone()).await;
    cx.span().end();
    result
}

// --- the peer ---

#[tracing::instrument]
fn instrument_sync(order: u64, customer: &str) -> u64 {
    order + customer.len() as u64
}

fn plain_sync(order: u64, customer: &str) -> u64 {
    order + customer.len() as u64
}

/// Polls a future that never waits.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the benchmarked futures never wait"),
    }
}

fn bench(c: &mut Criterion) {
    install();
    let mut group = c.benchmark_group("sync");
    group.bench_function("no span", |b| {
        b.iter(|| plain_sync(black_box(42), black_box("alice")))
    });
    group.bench_function("#[traced]", |b| {
        b.iter(|| traced_sync(black_box(42), black_box("alice")))
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| hand_sync(black_box(42), black_box("alice")))
    });
    group.bench_function("tracing::instrument", |b| {
        b.iter(|| instrument_sync(black_box(42), black_box("alice")))
    });
    group.finish();

    let mut group = c.benchmark_group("err");
    group.bench_function("#[traced]", |b| b.iter(|| traced_err(black_box(1))));
    group.bench_function("hand-written", |b| b.iter(|| hand_err(black_box(1))));
    group.finish();

    let mut group = c.benchmark_group("async");
    group.bench_function("#[traced]", |b| {
        b.iter(|| ready(traced_async(black_box(42))))
    });
    group.bench_function("hand-written", |b| {
        b.iter(|| ready(hand_async(black_box(42))))
    });
    group.finish();
}

/// Per-call nanoseconds of `f`, over a batch.
fn batch(calls: u32, mut f: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(calls)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `#[traced]` and the hand-written span in alternating batches.
fn paired(_: &mut Criterion) {
    const ROUNDS: usize = 1001;
    const CALLS: u32 = 2_000;
    type Pair = (&'static str, Box<dyn Fn()>, Box<dyn Fn()>);
    let pairs: [Pair; 3] = [
        (
            "sync",
            Box::new(|| {
                black_box(traced_sync(black_box(42), black_box("alice")));
            }),
            Box::new(|| {
                black_box(hand_sync(black_box(42), black_box("alice")));
            }),
        ),
        (
            "err",
            Box::new(|| {
                let _ = black_box(traced_err(black_box(1)));
            }),
            Box::new(|| {
                let _ = black_box(hand_err(black_box(1)));
            }),
        ),
        (
            "async",
            Box::new(|| {
                black_box(ready(traced_async(black_box(42))));
            }),
            Box::new(|| {
                black_box(ready(hand_async(black_box(42))));
            }),
        ),
    ];
    println!("\npaired, median of {ROUNDS} rounds of {CALLS} calls each:");
    for (name, traced, hand) in &pairs {
        let (mut t, mut h, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let (a, b) = if round % 2 == 0 {
                let a = batch(CALLS, traced);
                (a, batch(CALLS, hand))
            } else {
                let b = batch(CALLS, hand);
                (batch(CALLS, traced), b)
            };
            t.push(a);
            h.push(b);
            ratios.push(a / b);
        }
        println!(
            "{name:>6}: #[traced] {:>7.1} ns/op, hand-written {:>7.1} ns/op, ratio {:.3}",
            median(t),
            median(h),
            median(ratios)
        );
    }
}

/// `O11Y_BENCH_COUNT=<case> valgrind --tool=callgrind <bench binary>`: runs
/// one case `COUNT_CALLS` times, so that instruction counts can be compared
/// (subtract the `none` case, divide by the number of calls).
const COUNT_CALLS: u32 = 100_000;

fn count(case: &str) {
    install();
    let f: fn() = match case {
        "none" => || {},
        "traced_sync" => || {
            black_box(traced_sync(black_box(42), black_box("alice")));
        },
        "hand_sync" => || {
            black_box(hand_sync(black_box(42), black_box("alice")));
        },
        "traced_err" => || {
            let _ = black_box(traced_err(black_box(1)));
        },
        "hand_err" => || {
            let _ = black_box(hand_err(black_box(1)));
        },
        "traced_async" => || {
            black_box(ready(traced_async(black_box(42))));
        },
        "hand_async" => || {
            black_box(ready(hand_async(black_box(42))));
        },
        "instrument_sync" => || {
            black_box(instrument_sync(black_box(42), black_box("alice")));
        },
        other => panic!("unknown case {other}"),
    };
    for _ in 0..COUNT_CALLS {
        f();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench, paired
}
fn main() {
    if let Ok(case) = std::env::var("O11Y_BENCH_COUNT") {
        count(&case);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
