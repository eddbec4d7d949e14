//! `init` and the guard: configuration errors, shutdown on every runtime
//! flavour and with no runtime, the disabled SDK, the Prometheus exposition.

use std::time::Duration;

use o11y_core::{InitError, config::ExporterKind, testing::Capture};
use opentelemetry::trace::{Tracer, TracerProvider};

fn no_env(_: &str) -> Option<String> {
    None
}

fn builder(vars: &'static [(&'static str, &'static str)]) -> o11y_core::Builder {
    o11y_core::builder("init-test")
        .install_subscriber(false)
        .env_lookup(move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
}

#[test]
fn a_bad_variable_is_an_error_naming_it() {
    let err = builder(&[("OTEL_TRACES_SAMPLER", "sometimes")])
        .build()
        .unwrap_err();
    match err {
        InitError::Config(e) => {
            assert_eq!(e.var, "OTEL_TRACES_SAMPLER");
            assert_eq!(e.value, "sometimes");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn code_settings_win_over_the_environment() {
    let b = builder(&[
        ("OTEL_SERVICE_NAME", "from-env"),
        // `none` needs no cargo feature, so this holds in every build.
        ("OTEL_TRACES_EXPORTER", "none"),
    ])
    .traces_exporter(ExporterKind::Console);
    let config = b.config().unwrap();
    assert_eq!(config.service_name.as_deref(), Some("init-test"));
    assert_eq!(config.traces_exporter, ExporterKind::Console);
    // An empty service name in code lets OTEL_SERVICE_NAME through.
    let config = o11y_core::builder("")
        .env_lookup(|n| (n == "OTEL_SERVICE_NAME").then(|| "from-env".to_owned()))
        .config()
        .unwrap();
    assert_eq!(config.service_name.as_deref(), Some("from-env"));
}

#[test]
fn spans_reach_added_processors_with_the_resource() {
    let capture = Capture::new();
    // No collector here: nothing else exports (its metrics would fail the shutdown).
    let guard = builder(&[
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=payments"),
    ])
    .with_span_processor(capture.processor())
    .version("1.2.3")
    .build()
    .unwrap();
    let provider = guard.tracer_provider().unwrap();
    provider.tracer("t").in_span("work", |_| {});
    let spans = capture.wait_for(1);
    assert_eq!(spans.find("work").service(), "init-test");
    guard.shutdown().unwrap();
    assert!(
        guard.tracer_provider().is_none(),
        "providers are gone after shutdown"
    );
    guard.shutdown().unwrap();
}

#[test]
fn disabled_sdk_builds_no_providers() {
    let guard = builder(&[("OTEL_SDK_DISABLED", "true")]).build().unwrap();
    assert!(guard.tracer_provider().is_none());
    assert!(guard.meter_provider().is_none());
}

#[test]
fn drop_without_a_runtime_returns() {
    let guard = o11y_core::builder("no-runtime")
        .install_subscriber(false)
        .env_lookup(no_env)
        .build()
        .unwrap();
    guard
        .tracer_provider()
        .unwrap()
        .tracer("t")
        .in_span("s", |_| {});
    drop(guard);
}

#[test]
fn drop_inside_a_current_thread_runtime_returns() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let guard = o11y_core::builder("current-thread")
            .install_subscriber(false)
            .env_lookup(no_env)
            .build()
            .unwrap();
        guard
            .tracer_provider()
            .unwrap()
            .tracer("t")
            .in_span("s", |_| {});
        tokio::task::yield_now().await;
        drop(guard);
    });
}

/// With the OTLP exporters pointing at a port where nothing listens, dropping
/// the guard inside a current-thread runtime neither panics ("no reactor
/// running") nor hangs: it gives up within the shutdown timeout.
#[cfg(all(feature = "otlp-grpc", feature = "otlp-http"))]
#[test]
fn otlp_to_a_dead_collector_shuts_down_within_the_timeout() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for protocol in ["grpc", "http/protobuf"] {
        let endpoint = if protocol == "grpc" {
            format!("http://127.0.0.1:{port}")
        } else {
            format!("http://127.0.0.1:{port}/v1/traces")
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let elapsed = rt.block_on(async move {
            let vars = [
                (
                    "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
                    protocol.to_owned(),
                ),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_owned(), endpoint),
                ("OTEL_EXPORTER_OTLP_TIMEOUT".to_owned(), "500".to_owned()),
                ("OTEL_METRICS_EXPORTER".to_owned(), "none".to_owned()),
                ("OTEL_LOGS_EXPORTER".to_owned(), "none".to_owned()),
            ];
            let guard = o11y_core::builder("dead-collector")
                .install_subscriber(false)
                .shutdown_timeout(Duration::from_secs(3))
                .env_lookup(move |n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
                .traces_exporter(ExporterKind::Otlp)
                .build()
                .unwrap();
            guard
                .tracer_provider()
                .unwrap()
                .tracer("t")
                .in_span("lost", |_| {});
            let start = std::time::Instant::now();
            let _ = guard.shutdown();
            start.elapsed()
        });
        assert!(
            elapsed < Duration::from_secs(10),
            "{protocol}: shutdown took {elapsed:?}"
        );
    }
}

#[cfg(feature = "prometheus")]
#[test]
fn prometheus_exposition_renders_recorded_metrics() {
    use opentelemetry::metrics::MeterProvider;
    let guard = builder(&[])
        .metrics_exporter(ExporterKind::Prometheus)
        .build()
        .unwrap();
    let meter = guard.meter_provider().unwrap().meter("test");
    meter
        .u64_counter("orders_created")
        .build()
        .add(3, &[opentelemetry::KeyValue::new("region", "eu")]);
    let text = guard.prometheus().unwrap().render();
    let line = text
        .lines()
        .find(|l| l.starts_with("orders_created_total"))
        .unwrap_or_else(|| panic!("no counter in:\n{text}"));
    assert!(line.contains("region=\"eu\""), "{line}");
    assert!(line.trim_end().ends_with(" 3"), "{line}");
}

#[test]
fn init_publishes_its_provider_until_shutdown() {
    let capture = Capture::new();
    let guard = builder(&[
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
    .with_span_processor(capture.processor())
    .init()
    .unwrap();
    let installed = o11y_core::installed_tracer_provider().expect("published by init");
    installed.tracer("t").in_span("through-installed", |_| {});
    assert_eq!(
        capture.wait_for(1).find("through-installed").service(),
        "init-test"
    );
    guard.shutdown().unwrap();
    assert!(
        o11y_core::installed_tracer_provider().is_none(),
        "withdrawn at shutdown"
    );
}

#[test]
fn a_malformed_endpoint_port_fails_init_naming_the_variable() {
    let err = builder(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:43l7")])
        .build()
        .unwrap_err();
    let InitError::Config(e) = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(e.var, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    assert!(err.to_string().contains("port \"43l7\""), "{err}");
}

/// The variables `init` reads itself (the SDK reads its `OTEL_BSP_*` and the
/// like with defaults for values it cannot parse).
const VARS: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PROPAGATORS",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any value of any variable: an error or a guard, never a panic (a
    /// panic fails the case). Values are drawn from URL, header and number
    /// fragments as well as arbitrary text.
    #[test]
    fn any_value_of_any_variable_is_an_error_or_a_guard_never_a_panic(
        var in proptest::sample::select(VARS),
        value in proptest::prop_oneof![
            "\\PC{0,40}",
            "(https?://)?[a-z\\[\\]:@%.]{0,12}(:[0-9a-z]{0,6})?(/[a-z?=&%]{0,8})?",
            "([a-z%=, ]{0,8}=[^,]{0,8},?){0,3}",
            "(otlp|console|prometheus|none|grpc|http/protobuf|-1|1e99|0.5|NaN|true)",
        ],
    ) {
        let vars = [(var, value.clone()), ("OTEL_EXPORTER_OTLP_TIMEOUT", "100".to_owned())];
        let built = o11y_core::builder("any-value")
            .install_subscriber(false)
            .shutdown_timeout(Duration::from_millis(200))
            .env_lookup(move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
            .build();
        if let Ok(guard) = built {
            let _ = guard.shutdown();
        }
    }
}

#[test]
fn an_exporter_set_in_code_that_cannot_serve_its_signal_is_an_error() {
    let err = builder(&[])
        .traces_exporter(ExporterKind::Prometheus)
        .build()
        .unwrap_err();
    match err {
        InitError::Exporter { signal, message } => {
            assert_eq!(signal, "traces");
            assert!(message.contains("only metrics"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// An exporter that fails to build after the gRPC exporter's runtime was
/// made (a header name with a space) is an error even inside an async
/// context, where dropping a runtime would panic.
#[cfg(feature = "otlp-grpc")]
#[test]
fn a_bad_grpc_header_inside_a_runtime_is_an_error_not_a_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = builder(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad key=SECRET"),
        ])
        .build()
        .unwrap_err();
        assert!(
            matches!(
                err,
                InitError::Exporter {
                    signal: "traces",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains("SECRET"), "{err}");
    });
}
