//! The Prometheus exposition of the installed telemetry, for a `/metrics`
//! route under `#[o11y::main]`. Alone in its binary: `init` sets globals.

#[cfg(feature = "prometheus")]
#[test]
fn the_installed_prometheus_exposition_lives_with_its_guard() {
    assert!(o11y_core::installed_prometheus().is_none());
    let guard = o11y_core::builder("prom-test")
        .install_subscriber(false)
        .env_lookup(|_| None)
        .metrics_exporter(o11y_core::config::ExporterKind::Prometheus)
        .init()
        .unwrap();
    let counter = opentelemetry::global::meter_provider()
        .meter("test")
        .u64_counter("things_made")
        .build();
    counter.add(3, &[]);
    let text = o11y_core::installed_prometheus()
        .expect("installed")
        .render();
    assert!(text.contains("things_made"), "{text}");
    drop(guard);
    assert!(
        o11y_core::installed_prometheus().is_none(),
        "gone with its guard"
    );
}
