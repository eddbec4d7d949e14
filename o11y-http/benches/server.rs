//! Per-request overhead of server instrumentation, in-process (a tower
//! `oneshot` through an axum `Router`), every variant in the same run:
//! bare axum, o11y-http's `ServerLayer` (spans with semantic attributes,
//! metrics, correlation id), tower-http's `TraceLayer` with
//! tracing-opentelemetry, axum-tracing-opentelemetry, and
//! opentelemetry-instrumentation-tower. Spans go to one counting processor;
//! sampling is always-on unless the name says otherwise.
//!
//! Run: `cargo bench -p o11y-http --bench server`
#![allow(missing_docs)]

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = common::setup();
    let mut g = c.benchmark_group("server_request");
    for (name, router, traceparent) in &setup.variants {
        g.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                async move {
                    let resp = router.oneshot(common::request(*traceparent)).await;
                    std::hint::black_box(resp.map(|r| r.status()))
                }
            })
        });
    }
    g.finish();
    eprintln!(
        "spans ended during the run: {}",
        setup.counting.0.load(std::sync::atomic::Ordering::Relaxed)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
