//! A collector outage is reported: a service exporting to a refused port
//! writes the SDK's export errors to standard error, rate-limited to one
//! line for the whole burst (traces, metrics and logs all fail at once); a
//! service whose span queue fills against a collector that never answers
//! says that it drops, once, however many spans are dropped.
//!
//! The service is this binary run again (`harness = false`): with
//! `O11Y_TEST_CHILD` set, `main` is the service; otherwise it runs the check.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use opentelemetry::trace::{Tracer as _, TracerProvider as _};

const CHILD: &str = "O11Y_TEST_CHILD";

fn main() {
    match std::env::var(CHILD).as_deref() {
        Ok("refused") => service(),
        Ok("full") => full_queue(),
        _ => {
            an_outage_is_reported_once_on_standard_error();
            println!("test an_outage_is_reported_once_on_standard_error ... ok");
            a_full_queue_is_reported_once_on_standard_error();
            println!("test a_full_queue_is_reported_once_on_standard_error ... ok");
        }
    }
}

/// Ends 1 000 spans into a queue of 8 whose collector never answers (a
/// listener that is never accepted), then shuts down.
fn full_queue() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", hole.local_addr().unwrap());
    let guard = o11y_core::builder("full-queue")
        .shutdown_timeout(Duration::from_secs(1))
        .span_queue(o11y_core::config::QueueLimits {
            max_items: 8,
            max_bytes: 1 << 20,
        })
        .env_lookup(move |name| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
            "OTEL_TRACES_EXPORTER" => Some("otlp".into()),
            name if name.ends_with("_EXPORTER") => Some("none".into()),
            _ => None,
        })
        .init()
        .unwrap();
    let provider = guard.tracer_provider().unwrap();
    for _ in 0..1000 {
        provider.tracer("t").in_span("dropped", |_| {});
    }
    let _ = guard.shutdown();
    drop(hole);
}

fn a_full_queue_is_reported_once_on_standard_error() {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "full")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("o11y: telemetry export problem"))
        .collect();
    assert_eq!(reports.len(), 1, "one line per 10 s:\n{stderr}");
    assert!(
        reports[0].contains("o11y_core::export")
            && reports[0].contains("signal=spans")
            && reports[0].contains("reason=queue_full"),
        "the queue's own warning: {}",
        reports[0]
    );
}

/// Exports every signal to a refused port, twice, then shuts down.
fn service() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let guard = o11y_core::builder("outage-report")
        .shutdown_timeout(Duration::from_secs(2))
        .env_lookup(move |name| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
            "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("500".into()),
            name if name.ends_with("_EXPORTER") => Some("otlp".into()),
            _ => None,
        })
        .init()
        .unwrap();
    let provider = guard.tracer_provider().unwrap();
    for _ in 0..2 {
        provider.tracer("t").in_span("lost", |_| {});
        let _ = provider.force_flush();
    }
    let _ = guard.shutdown();
}

fn an_outage_is_reported_once_on_standard_error() {
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "refused")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("o11y: telemetry export problem"))
        .collect();
    assert_eq!(reports.len(), 1, "one line per 10 s:\n{stderr}");
    assert!(
        reports[0].contains("opentelemetry"),
        "the SDK's event: {}",
        reports[0]
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}
