//! Wall time per request of every server variant, in process, measured in
//! turns: each round serves a slice of requests with every variant, one
//! after the other (the order rotating from round to round), so that a
//! change in the machine's speed (a shared virtual machine's neighbours,
//! its clock) falls on all variants alike instead of on whichever variant
//! criterion was measuring at the time.
//!
//! For each variant: the median over the rounds of its time per request,
//! and, beside its bare row (`bare_axum_root` for the variants whose
//! requests carry no `traceparent`, as in the other benchmarks), `paired`: the median
//! over the rounds of its time minus the bare row's time in the same round,
//! with the quartiles of that difference.
//!
//! Run: `cargo bench -p o11y-http --bench interleaved`. `ROUNDS` (default
//! 1000) rounds of `PER_SLICE` (default 1000) requests per variant.
#![allow(missing_docs)]

mod common;

use std::time::Instant;

use tower::ServiceExt;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}

/// The value at quantile `q` of `values` (sorted here), nearest rank.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((values.len().saturating_sub(1)) as f64 * q).round() as usize;
    values.get(rank).copied().unwrap_or(f64::NAN)
}

fn main() {
    let rounds = setting("ROUNDS", 1000);
    let per_slice = setting("PER_SLICE", 1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let setup = common::setup();
    // One slice: `per_slice` requests, as the criterion benchmark serves
    // them (the router cloned per request, called with `oneshot`); the mean
    // nanoseconds per request.
    let slice = |router: &axum::Router, traceparent: bool| -> f64 {
        rt.block_on(async {
            let began = Instant::now();
            for _ in 0..per_slice {
                let resp = router.clone().oneshot(common::request(traceparent)).await;
                std::hint::black_box(resp.map(|r| r.status()).ok());
            }
            began.elapsed().as_nanos() as f64 / per_slice as f64
        })
    };
    let n = setup.variants.len();
    for (_, router, traceparent) in &setup.variants {
        slice(router, *traceparent);
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); n];
    for round in 0..rounds {
        // Each round starts one variant further along.
        let (late, early) = setup.variants.split_at(round % n);
        let (late_times, early_times) = times.split_at_mut(round % n);
        let order = early
            .iter()
            .zip(early_times)
            .chain(late.iter().zip(late_times));
        for ((_, router, traceparent), samples) in order {
            samples.push(slice(router, *traceparent));
        }
    }
    let names: Vec<&str> = setup.variants.iter().map(|(name, _, _)| *name).collect();
    let row = |name: &str| names.iter().position(|n| *n == name);
    println!("{rounds} rounds of {per_slice} requests per variant; ns per request (wall time)");
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>9}",
        "variant", "median", "paired", "p25", "p75"
    );
    for ((name, _, traceparent), samples) in setup.variants.iter().zip(&times) {
        let median = quantile(&mut samples.clone(), 0.5);
        // Requests without `traceparent` start traces: they compare with
        // bare axum serving the same requests.
        let base = if *traceparent {
            "bare_axum"
        } else {
            "bare_axum_root"
        };
        let bare = row(base).and_then(|i| times.get(i));
        match bare {
            Some(bare) if base != *name => {
                let mut added: Vec<f64> = samples.iter().zip(bare).map(|(v, b)| v - b).collect();
                println!(
                    "{name:<38} {median:>9.1} {:>+9.1} {:>+9.1} {:>+9.1}",
                    quantile(&mut added, 0.5),
                    quantile(&mut added, 0.25),
                    quantile(&mut added, 0.75),
                );
            }
            _ => println!("{name:<38} {median:>9.1}"),
        }
    }
    eprintln!(
        "spans ended during the run: {}",
        setup.counting.0.load(std::sync::atomic::Ordering::Relaxed)
    );
}
