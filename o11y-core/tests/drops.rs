//! Outage behaviour a user can see and bound: with the collector refused
//! or black-holed (a listener that completes the handshake and never
//! reads), every span and log record that does not reach it is counted in
//! `o11y.telemetry.dropped` by reason, the queues hold no more than their
//! count and byte bounds (`o11y.telemetry.queue.size`), every held byte
//! comes back whether the export failed, timed out or was cut short by
//! shutdown, and exports resume when the collector returns.
#![cfg(feature = "otlp-grpc")]

#[path = "support/receiver.rs"]
mod receiver;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use o11y_core::{Guard, TELEMETRY_DROPPED, TELEMETRY_QUEUE_SIZE, config::QueueLimits};
use opentelemetry::{
    KeyValue,
    logs::{LogRecord as _, Logger as _, LoggerProvider as _},
    trace::{TraceContextExt as _, Tracer as _, TracerProvider as _},
};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader,
    data::{AggregatedMetrics, MetricData},
};

/// A service exporting spans and logs over OTLP/gRPC to `endpoint`, its
/// metrics read in memory.
struct Service {
    guard: Guard,
    metrics: InMemoryMetricExporter,
}

impl Service {
    fn new(endpoint: &str, settings: &[(&str, &str)]) -> Self {
        let mut vars: Vec<(String, String)> = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_LOGS_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]
        .iter()
        .chain(settings)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        vars.reverse(); // the test's settings first
        let metrics = InMemoryMetricExporter::default();
        let reader = PeriodicReader::builder(metrics.clone()).build();
        let guard = o11y_core::builder("drops")
            .install_subscriber(false)
            .shutdown_timeout(Duration::from_secs(2))
            .env_lookup(move |n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
            .configure_metrics(move |b| b.with_reader(reader))
            .build()
            .unwrap();
        Self { guard, metrics }
    }

    fn spans(&self, name: &'static str, n: usize, blob: usize) {
        let tracer = self.guard.tracer_provider().unwrap().tracer("t");
        for _ in 0..n {
            tracer.in_span(name, |cx| {
                cx.span()
                    .set_attribute(KeyValue::new("blob", "x".repeat(blob)))
            });
        }
    }

    fn logs(&self, n: usize, blob: usize) {
        let logger = self.guard.logger_provider().unwrap().logger("l");
        for _ in 0..n {
            let mut record = logger.create_log_record();
            record.set_body("y".repeat(blob).into());
            logger.emit(record);
        }
    }

    /// Flushes `signal`; the result is the export's, which may well fail.
    fn flush(&self, signal: &str) {
        let _ = match signal {
            "spans" => self.guard.tracer_provider().unwrap().force_flush(),
            _ => self.guard.logger_provider().unwrap().force_flush(),
        };
    }

    /// The value of metric `name` for the data point with `attributes`.
    fn metric(&self, name: &str, attributes: &[(&str, &str)]) -> u64 {
        self.metrics.reset();
        self.guard.meter_provider().unwrap().force_flush().unwrap();
        let all = self.metrics.get_finished_metrics().unwrap();
        let matches = |kvs: Vec<&KeyValue>| {
            kvs.len() == attributes.len()
                && attributes.iter().all(|(k, v)| {
                    kvs.iter()
                        .any(|kv| kv.key.as_str() == *k && kv.value.as_str() == *v)
                })
        };
        for m in all
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|s| s.metrics())
        {
            if m.name() != name {
                continue;
            }
            let found = match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(s)) => s
                    .data_points()
                    .find(|p| matches(p.attributes().collect()))
                    .map(|p| p.value()),
                AggregatedMetrics::U64(MetricData::Gauge(g)) => g
                    .data_points()
                    .find(|p| matches(p.attributes().collect()))
                    .map(|p| p.value()),
                _ => None,
            };
            if let Some(v) = found {
                return v;
            }
        }
        panic!("no {name} {attributes:?} in {all:#?}");
    }

    fn dropped(&self, signal: &str, reason: &str) -> u64 {
        self.metric(TELEMETRY_DROPPED, &[("signal", signal), ("reason", reason)])
    }

    fn queued_bytes(&self, signal: &str) -> u64 {
        self.metric(TELEMETRY_QUEUE_SIZE, &[("signal", signal)])
    }

    /// Waits (bounded) until `signal`'s queue holds no byte.
    fn drained(&self, signal: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.queued_bytes(signal) != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.queued_bytes(signal) == 0
    }
}

fn refused_endpoint() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

#[test]
fn a_refused_collector_counts_every_span_and_log_exactly() {
    let s = Service::new(
        &refused_endpoint(),
        &[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "8"),
        ],
    );
    s.spans("lost", 50, 0);
    s.logs(50, 0);
    for signal in ["spans", "logs"] {
        s.flush(signal);
        let full = s.dropped(signal, "queue_full");
        let failed = s.dropped(signal, "export_failed");
        assert_eq!(
            full + failed,
            50,
            "{signal}: {full} queue_full, {failed} failed"
        );
        assert_eq!(s.dropped(signal, "bytes_full"), 0, "{signal}");
        assert_eq!(s.queued_bytes(signal), 0, "{signal}: every byte back");
    }
}

#[test]
fn a_black_hole_bounds_the_queue_and_exports_resume_when_the_collector_returns() {
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hole.local_addr().unwrap().to_string();
    let s = Service::new(
        &format!("http://{addr}"),
        &[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
        ],
    );
    // The 8th span starts an export that hangs: the queue stays full.
    s.spans("lost", 30, 0);
    assert!(
        s.queued_bytes("spans") > 0,
        "8 spans held during the export"
    );
    assert_eq!(s.dropped("spans", "queue_full"), 22);
    s.flush("spans"); // waits for the hung export's timeout
    assert_eq!(s.dropped("spans", "export_failed"), 8);
    assert_eq!(s.queued_bytes("spans"), 0);

    drop(hole);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (receiver, _) = receiver::Receiver::start_at(&rt, &addr);
    // The exporter reconnects: a probe gets through within a bounded time.
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.spans().is_empty() && Instant::now() < deadline {
        s.spans("probe", 1, 0);
        s.flush("spans");
    }
    assert!(!receiver.spans().is_empty(), "exports never resumed");
    let failed = s.dropped("spans", "export_failed");
    s.spans("after", 5, 0);
    s.flush("spans");
    assert!(receiver.wait_for(Duration::from_secs(10), |spans| {
        spans.iter().filter(|sp| sp.name == "after").count() == 5
    }));
    assert_eq!(s.dropped("spans", "export_failed"), failed, "no new loss");
    assert_eq!(s.dropped("spans", "queue_full"), 22);
    assert_eq!(s.queued_bytes("spans"), 0);
}

/// 100 items of 10 KiB each against 64 KiB: at most 6 are held at once,
/// the rest are dropped as `bytes_full`, and the held bytes stay under the bound.
#[test]
fn large_items_are_bounded_in_bytes() {
    const BOUND: u64 = 64 * 1024;
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = Service::new(
        &format!("http://{}", hole.local_addr().unwrap()),
        &[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("O11Y_BSP_MAX_QUEUE_BYTES", "65536"),
            ("O11Y_BLRP_MAX_QUEUE_BYTES", "65536"),
        ],
    );
    s.spans("big", 100, 10 * 1024);
    s.logs(100, 10 * 1024);
    for signal in ["spans", "logs"] {
        let held = s.queued_bytes(signal);
        assert!(held > 0 && held <= BOUND, "{signal}: {held} bytes held");
        let full = s.dropped(signal, "bytes_full");
        assert!(full >= 94, "{signal}: only {full} dropped as bytes_full");
        s.flush(signal);
        assert!(s.drained(signal), "{signal}: bytes never came back");
        let failed = s.dropped(signal, "export_failed");
        assert_eq!(
            full + failed,
            100,
            "{signal}: {full} bytes_full, {failed} failed"
        );
        assert_eq!(s.dropped(signal, "queue_full"), 0, "{signal}");
    }
    drop(hole);
}

/// Items still queued at shutdown: exported (here: failed) within the
/// deadline and counted, their bytes released; when the deadline cuts the
/// export short, the bytes come back when the export times out.
#[test]
fn items_queued_at_shutdown_are_counted_and_released() {
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", hole.local_addr().unwrap());

    let s = Service::new(&endpoint, &[("OTEL_EXPORTER_OTLP_TIMEOUT", "300")]);
    s.spans("queued", 5, 0);
    s.logs(5, 0);
    let spans = s.guard.tracer_provider().unwrap();
    spans.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
    let logs = s.guard.logger_provider().unwrap();
    logs.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
    for signal in ["spans", "logs"] {
        assert_eq!(s.dropped(signal, "export_failed"), 5, "{signal}");
        assert_eq!(s.queued_bytes(signal), 0, "{signal}");
    }

    // The export outlives the shutdown deadline.
    let s = Service::new(&endpoint, &[("OTEL_EXPORTER_OTLP_TIMEOUT", "1500")]);
    s.spans("queued", 5, 0);
    let spans = s.guard.tracer_provider().unwrap();
    assert!(
        spans
            .shutdown_with_timeout(Duration::from_millis(200))
            .is_err()
    );
    assert!(s.queued_bytes("spans") > 0, "held while the export hangs");
    assert!(s.drained("spans"), "released when the export timed out");
    assert_eq!(s.dropped("spans", "export_failed"), 5);
    drop(hole);
}

#[test]
fn queue_limits_set_in_code_win_over_the_environment() {
    let spans = QueueLimits {
        max_items: 3,
        max_bytes: 4096,
    };
    let config = o11y_core::builder("limits")
        .env_lookup(|n| n.contains("QUEUE").then(|| "1".to_owned()))
        .span_queue(spans)
        .config()
        .unwrap();
    assert_eq!(config.span_queue, spans);
    let from_env = QueueLimits {
        max_items: 1,
        max_bytes: 1,
    };
    assert_eq!(config.log_queue, from_env);
}

/// The counts reach a `/metrics` route like any other metric.
#[cfg(feature = "prometheus")]
#[test]
fn the_drops_reach_the_prometheus_exposition() {
    let s = Service::new(
        &refused_endpoint(),
        &[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ],
    );
    s.spans("lost", 3, 0);
    s.flush("spans");
    let text = s.guard.prometheus().unwrap().render();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("o11y_telemetry_dropped_total{")
                && l.contains(r#"reason="export_failed""#)
                && l.contains(r#"signal="spans""#)
        })
        .unwrap_or_else(|| panic!("no drop count in:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(
        text.contains("# TYPE o11y_telemetry_queue_size_bytes gauge"),
        "{text}"
    );
}
