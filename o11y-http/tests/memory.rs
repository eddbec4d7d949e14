//! Values a caller chooses (Host, User-Agent) are not kept: 100 000
//! requests, each with its own, leave the process's resident memory flat.
//! Alone in its binary, so that no other test moves the figure.

use std::time::Instant;

use axum::{Router, body::Body, routing::get};
use http::Request;
use http_body_util::BodyExt;
use o11y_http::ServerLayer;
use opentelemetry_sdk::{metrics::SdkMeterProvider, trace::SdkTracerProvider};
use tower::ServiceExt;

/// Resident memory of this process in bytes (Linux), if it can be read.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

async fn requests(app: &Router, range: std::ops::Range<u32>) {
    for i in range {
        // About 250 bytes a request that nothing may keep: 100 000 of them
        // kept would be 25 MB.
        let req = Request::get("/users/7")
            .header("host", format!("tenant-{i}.example.com:8080"))
            .header("user-agent", format!("load-test/{i} {}", "x".repeat(200)))
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        resp.into_body().collect().await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn distinct_hosts_and_user_agents_leave_memory_flat() {
    let Some(_) = resident_bytes() else {
        println!("SKIPPED: no /proc/self/statm on this system");
        return;
    };
    // Spans are recorded (sampled, attributes set) and dropped at their end;
    // the metrics aggregate in the meter provider until it is collected.
    let tracer = SdkTracerProvider::builder().build();
    let meters = SdkMeterProvider::builder().build();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ada" }))
        .layer(
            ServerLayer::new()
                .tracer_provider(&tracer)
                .meter_provider(&meters),
        );
    requests(&app, 0..20_000).await; // warm-up: allocator pools, tables
    let before = resident_bytes().unwrap();
    let started = Instant::now();
    requests(&app, 20_000..70_000).await;
    let first_half = started.elapsed();
    requests(&app, 70_000..120_000).await;
    let second_half = started.elapsed() - first_half;
    let after = resident_bytes().unwrap();
    let grown = after.saturating_sub(before);
    println!(
        "resident memory {before} -> {after} bytes (+{grown}) over 100 000 requests; \
         50 000 requests took {first_half:?}, then {second_half:?}"
    );
    // Slack for the allocator's own pools; a kept value per request would
    // be about 25 MB.
    const SLACK: u64 = 8 << 20;
    assert!(grown < SLACK, "resident memory grew by {grown} bytes");
}
