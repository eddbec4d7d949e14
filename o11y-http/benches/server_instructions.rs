//! Instructions per request, counted by callgrind, for one variant of the
//! server benchmark: the run is deterministic, so the figures do not move
//! with the machine's load.
//!
//! Run: `bash o11y-http/benches/instructions.sh` (it builds this, runs every
//! variant under `valgrind --tool=callgrind` with 0 and N requests, and prints
//! the difference divided by N).
//!
//! With `O11Y_BENCH_EVICT=KIB`, a buffer of that many KiB is read between two
//! requests, as the kernel's network path and the rest of a server do between
//! two requests under load: run under callgrind's cache simulation with a
//! last-level cache smaller than the buffer, each request then starts cold,
//! and its last-level misses count the distinct cache lines (code and data)
//! it touches. `bash o11y-http/benches/cache_lines.sh` does this.
#![allow(missing_docs)]

mod common;

use tower::ServiceExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "bare_axum".to_owned());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = common::setup();
    let Some((_, router, traceparent)) =
        setup.variants.iter().find(|(name, _, _)| *name == variant)
    else {
        eprintln!("unknown variant {variant}");
        std::process::exit(2);
    };
    let evict: Vec<u8> = std::env::var("O11Y_BENCH_EVICT")
        .ok()
        .and_then(|kib| kib.parse::<usize>().ok())
        .map(|kib| vec![1; kib * 1024])
        .unwrap_or_default();
    rt.block_on(async {
        // Warm up caches and lazily built state once, whatever n is.
        let _ = router.clone().oneshot(common::request(*traceparent)).await;
    });
    serve(&rt, router, *traceparent, n, &evict);
}

/// The measured part: `instructions.sh` counts only while this runs
/// (`--toggle-collect`), so one-time work at start-up (building providers)
/// is not counted.
#[inline(never)]
fn serve(
    rt: &tokio::runtime::Runtime,
    router: &axum::Router,
    traceparent: bool,
    n: usize,
    evict: &[u8],
) {
    rt.block_on(async {
        for _ in 0..n {
            // One read per cache line.
            let touched: u64 = evict.iter().step_by(64).map(|b| u64::from(*b)).sum();
            std::hint::black_box(touched);
            let resp = router.clone().oneshot(common::request(traceparent)).await;
            std::hint::black_box(resp.map(|r| r.status()).ok());
        }
    });
}
