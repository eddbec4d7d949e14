//! Shutdown is bounded by one deadline whatever the collector does: traces,
//! metrics and logs all export over OTLP to a black hole (a listener that
//! completes the TCP handshake and never reads or answers) or to a refused
//! port, and `Guard::shutdown` returns within the deadline plus a margin.
//! Before the signals shared the deadline, the black hole took three
//! deadlines (one per signal) plus the metric reader's own 5 s.
#![cfg(all(feature = "otlp-grpc", feature = "otlp-http"))]

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use opentelemetry::{
    logs::{LogRecord as _, Logger as _, LoggerProvider as _},
    metrics::MeterProvider as _,
    trace::{Tracer as _, TracerProvider as _},
};

const DEADLINE: Duration = Duration::from_secs(2);
/// A correctness bound, not a performance figure: generous, so it never flakes.
const MARGIN: Duration = Duration::from_secs(3);

/// Builds every signal to `endpoint`, records one of each, and times the shutdown.
fn shutdown_time(protocol: &str, endpoint: String) -> Duration {
    let vars = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        // The exporters' own timeout is longer than the deadline, as by
        // default (10 s against 5 s): the deadline must win.
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
        ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
    ];
    let guard = o11y_core::builder("outage")
        .install_subscriber(false)
        .shutdown_timeout(DEADLINE)
        .env_lookup(move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
        .build()
        .unwrap();
    let tracer = guard.tracer_provider().unwrap().tracer("t");
    tracer.in_span("lost", |_| {});
    let meter = guard.meter_provider().unwrap().meter("m");
    meter.u64_counter("lost").build().add(1, &[]);
    let logger = guard.logger_provider().unwrap().logger("l");
    let mut record = logger.create_log_record();
    record.set_body("lost".into());
    logger.emit(record);
    let start = Instant::now();
    let result = guard.shutdown();
    let elapsed = start.elapsed();
    println!("{protocol} {elapsed:?}: {result:?}");
    elapsed
}

#[test]
fn a_black_hole_collector_is_given_up_on_at_the_deadline() {
    // Never accepted: the kernel completes the handshake and the bytes sit
    // in the backlog, unread and unanswered.
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    for protocol in ["grpc", "http/protobuf"] {
        let elapsed = shutdown_time(protocol, format!("http://127.0.0.1:{port}"));
        assert!(
            elapsed < DEADLINE + MARGIN,
            "{protocol}: shutdown took {elapsed:?}, deadline {DEADLINE:?}"
        );
    }
    drop(hole);
}

#[test]
fn a_refused_collector_does_not_hold_the_shutdown() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for protocol in ["grpc", "http/protobuf"] {
        let elapsed = shutdown_time(protocol, format!("http://127.0.0.1:{port}"));
        assert!(
            elapsed < DEADLINE + MARGIN,
            "{protocol}: shutdown took {elapsed:?}, deadline {DEADLINE:?}"
        );
    }
}

/// Extreme but valid timeouts: the largest export timeout and a shutdown
/// deadline of `Duration::MAX` neither panic nor overflow.
#[test]
fn extreme_timeouts_neither_panic_nor_overflow() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for protocol in ["grpc", "http/protobuf"] {
        let vars = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", u64::MAX.to_string()),
        ];
        let guard = o11y_core::builder("extreme")
            .install_subscriber(false)
            .shutdown_timeout(Duration::MAX)
            .env_lookup(move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
            .build()
            .unwrap();
        guard
            .tracer_provider()
            .unwrap()
            .tracer("t")
            .in_span("s", |_| {});
        // A refused port: every export fails fast, so even no deadline ends.
        let _ = guard.shutdown();
    }
}
