//! Per-request overhead of server instrumentation, in-process (a tower
//! `oneshot` through an axum `Router`), every variant in the same run:
//! bare axum, o11y-http's `ServerLayer` (spans with semantic attributes,
//! metrics, correlation id), tower-http's `TraceLayer` with
//! tracing-opentelemetry, axum-tracing-opentelemetry, and
//! opentelemetry-instrumentation-tower. Spans go to one counting processor;
//! sampling is always-on unless the name says otherwise.
//!
//! `server_request_two_threads`: the same requests served by two threads at
//! once, each with its own runtime and its own clone of the router, as two
//! worker threads of a server would; the time is per request on each
//! thread. What the layers share between threads (reference counts,
//! counters, the SDK's locks) costs more when two cores write it.
//!
//! Run: `cargo bench -p o11y-http --bench server`
#![allow(missing_docs)]

mod common;

use std::{
    sync::Barrier,
    time::{Duration, Instant},
};

use criterion::{Criterion, criterion_group, criterion_main};
use tower::{Service, ServiceExt};

const THREADS: usize = 2;

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
    let runtimes: Vec<tokio::runtime::Runtime> = (0..THREADS)
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        })
        .collect();
    let mut g = c.benchmark_group("server_request_two_threads");
    for (name, router, traceparent) in &setup.variants {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| in_parallel(&runtimes, router, *traceparent, iters))
        });
    }
    g.finish();
    eprintln!(
        "spans ended during the run: {}",
        setup.counting.0.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// `iters` requests on each runtime's thread, all threads at once; the
/// longest thread's time.
fn in_parallel(
    runtimes: &[tokio::runtime::Runtime],
    router: &axum::Router,
    traceparent: bool,
    iters: u64,
) -> Duration {
    let start = Barrier::new(runtimes.len());
    std::thread::scope(|s| {
        let threads: Vec<_> = runtimes
            .iter()
            .map(|rt| {
                let start = &start;
                s.spawn(move || {
                    // One router per thread, called request after request,
                    // as a server's connection task calls its service.
                    let mut service = router.clone();
                    start.wait();
                    let began = Instant::now();
                    rt.block_on(async {
                        for _ in 0..iters {
                            let ready =
                                ServiceExt::<http::Request<axum::body::Body>>::ready(&mut service)
                                    .await
                                    .unwrap();
                            let resp = ready.call(common::request(traceparent)).await;
                            std::hint::black_box(resp.map(|r| r.status()).ok());
                        }
                    });
                    began.elapsed()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}

criterion_group!(benches, bench);
criterion_main!(benches);
