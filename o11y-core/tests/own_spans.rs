//! The exporter never traces itself: over several export cycles to an
//! in-process OTLP/gRPC receiver, only the service's spans arrive, none of
//! the `tracing` spans that h2, tonic, hyper or tower make while exporting.
//! Installs the global subscriber, so this binary holds one test.
#![cfg(feature = "otlp-grpc")]

#[path = "support/receiver.rs"]
mod receiver;

use std::time::Duration;

#[test]
fn over_several_export_cycles_only_the_services_spans_arrive() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (receiver, endpoint) = receiver::Receiver::start(&rt);
    let guard = o11y_core::builder("own-spans")
        .env_lookup(move |name| match name {
            "OTEL_TRACES_EXPORTER" => Some("otlp".into()),
            "OTEL_METRICS_EXPORTER" | "OTEL_LOGS_EXPORTER" => Some("none".into()),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
            _ => None,
        })
        .init()
        .unwrap();
    let provider = guard.tracer_provider().unwrap();
    const CYCLES: usize = 5;
    for cycle in 0..CYCLES {
        // A `tracing` span, bridged like every span of the service.
        tracing::info_span!("work", cycle).in_scope(|| tracing::warn!("inside"));
        // Each flush is one export; the spans its own sending makes would
        // be in the next one.
        provider.force_flush().unwrap();
        assert!(
            receiver.wait_for(Duration::from_secs(10), |spans| spans.len() > cycle),
            "cycle {cycle}: {} spans",
            receiver.spans().len()
        );
    }
    guard.shutdown().unwrap();
    assert!(receiver.exports() >= CYCLES);
    let names: Vec<String> = receiver.spans().into_iter().map(|s| s.name).collect();
    let foreign: std::collections::BTreeSet<_> = names.iter().filter(|n| *n != "work").collect();
    assert!(foreign.is_empty(), "the exporter's own spans: {foreign:?}");
    assert_eq!(names.len(), CYCLES);
    rt.shutdown_background();
}
