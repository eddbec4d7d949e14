//! Builds the exporters each signal was configured with; OTLP spans and
//! logs go through the bounded, counted queues of [`super::queue`].

use opentelemetry_sdk::{
    logs::LoggerProviderBuilder, metrics::MeterProviderBuilder, trace::TracerProviderBuilder,
};

use super::Inner;
use crate::{
    config::{Config, ExporterKind},
    error::InitError,
};

/// Checks done before anything is built, so a bad setting fails early.
pub(super) struct Exporters;

type Builders = (
    TracerProviderBuilder,
    MeterProviderBuilder,
    LoggerProviderBuilder,
);

impl Exporters {
    /// Every exporter chosen (in code or by a variable) is compiled in and
    /// fits its signal: a choice that cannot be honoured is an error, not a
    /// signal silently going nowhere.
    pub(super) fn new(config: &Config) -> Result<Self, InitError> {
        let chosen = [
            ("traces", config.traces_exporter),
            ("metrics", config.metrics_exporter),
            ("logs", config.logs_exporter),
        ];
        for (signal, kind) in chosen {
            let problem = match kind {
                ExporterKind::Otlp if !cfg!(any(feature = "otlp-grpc", feature = "otlp-http")) => {
                    "OTLP export needs the `otlp` feature of o11y"
                }
                ExporterKind::Console if !cfg!(feature = "stdout") => {
                    "console export needs the `stdout` feature of o11y"
                }
                ExporterKind::Prometheus if signal != "metrics" => {
                    "only metrics can go to Prometheus"
                }
                ExporterKind::Prometheus if !cfg!(feature = "prometheus") => {
                    "Prometheus needs the `prometheus` feature of o11y"
                }
                _ => continue,
            };
            return Err(InitError::Exporter {
                signal,
                message: problem.to_owned(),
            });
        }
        Ok(Self)
    }

    #[allow(unused_mut, unused_variables)]
    pub(super) fn attach(
        self,
        config: &Config,
        inner: &mut Inner,
        mut traces: TracerProviderBuilder,
        mut metrics: MeterProviderBuilder,
        mut logs: LoggerProviderBuilder,
    ) -> Result<Builders, InitError> {
        #[cfg(feature = "otlp-grpc")]
        let _enter = {
            let grpc = [
                config.traces_exporter,
                config.metrics_exporter,
                config.logs_exporter,
            ]
            .iter()
            .zip(&config.otlp)
            .any(|(kind, s)| {
                *kind == ExporterKind::Otlp && s.protocol == crate::config::Protocol::Grpc
            });
            if grpc && inner.runtime.is_none() {
                // tonic needs a reactor for its connection task; a runtime of our own
                // keeps exports independent of the caller's runtime (or lack of one).
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("o11y-otlp")
                    .enable_all()
                    .build()?;
                inner.runtime = Some(rt);
            }
            inner.runtime.as_ref().map(|rt| rt.enter())
        };
        match config.traces_exporter {
            ExporterKind::None | ExporterKind::Prometheus => {}
            #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
            ExporterKind::Otlp => {
                let (processor, queue) =
                    super::queue::spans(otlp::spans(&config.otlp[0])?, config.span_queue);
                inner.queues.push(queue);
                traces = traces.with_span_processor(processor);
            }
            #[cfg(feature = "stdout")]
            ExporterKind::Console => {
                traces = traces.with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
        match config.metrics_exporter {
            ExporterKind::None => {}
            #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
            ExporterKind::Otlp => {
                metrics = metrics.with_periodic_exporter(otlp::metrics(&config.otlp[1])?)
            }
            #[cfg(feature = "stdout")]
            ExporterKind::Console => {
                metrics =
                    metrics.with_periodic_exporter(opentelemetry_stdout::MetricExporter::default())
            }
            #[cfg(feature = "prometheus")]
            ExporterKind::Prometheus => {
                let (reader, handle) =
                    crate::prometheus::reader().map_err(|message| InitError::Exporter {
                        signal: "metrics",
                        message,
                    })?;
                inner.prometheus = Some(handle);
                metrics = metrics.with_reader(reader);
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
        match config.logs_exporter {
            ExporterKind::None | ExporterKind::Prometheus => {}
            #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
            ExporterKind::Otlp => {
                let (processor, queue) =
                    super::queue::logs(otlp::logs(&config.otlp[2])?, config.log_queue);
                inner.queues.push(queue);
                logs = logs.with_log_processor(processor);
            }
            #[cfg(feature = "stdout")]
            ExporterKind::Console => {
                logs = logs.with_simple_exporter(opentelemetry_stdout::LogExporter::default())
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
        Ok((traces, metrics, logs))
    }
}

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
mod otlp {
    use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};

    use crate::{
        config::{OtlpSettings, Protocol},
        error::InitError,
    };

    macro_rules! build {
        ($name:ident, $exporter:ident, $signal:literal) => {
            pub(super) fn $name(s: &OtlpSettings) -> Result<$exporter, InitError> {
                let err = |e: &dyn std::fmt::Display| InitError::Exporter { signal: $signal, message: masked(&e.to_string(), s) };
                match s.protocol {
                    #[cfg(feature = "otlp-grpc")]
                    Protocol::Grpc => {
                        use opentelemetry_otlp::WithTonicConfig;
                        let mut headers = http::HeaderMap::new();
                        for (k, v) in &s.headers {
                            let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| err(&e))?;
                            headers.insert(name, http::HeaderValue::from_str(v).map_err(|e| err(&e))?);
                        }
                        let metadata = opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers(headers);
                        $exporter::builder()
                            .with_tonic()
                            .with_endpoint(s.endpoint.clone())
                            .with_timeout(s.timeout)
                            .with_metadata(metadata)
                            .build()
                            .map_err(|e| err(&e))
                    }
                    #[cfg(feature = "otlp-http")]
                    Protocol::HttpProtobuf => {
                        use opentelemetry_otlp::WithHttpConfig;
                        $exporter::builder()
                            .with_http()
                            .with_endpoint(s.endpoint.clone())
                            .with_timeout(s.timeout)
                            .with_headers(s.headers.clone().into_iter().collect())
                            .build()
                            .map_err(|e| err(&e))
                    }
                    #[allow(unreachable_patterns)]
                    other => Err(err(&format!("protocol {other:?} needs the matching o11y feature (otlp-grpc or otlp-http)"))),
                }
            }
        };
    }

    /// The exporter's `message` without the secrets of `s`: an error text
    /// may quote the endpoint (user information, query) or a header value.
    pub(super) fn masked(message: &str, s: &OtlpSettings) -> String {
        let mut message = message.replace(&s.endpoint, &crate::error::mask_url(&s.endpoint));
        for value in s.headers.values().filter(|v| !v.is_empty()) {
            message = message.replace(value.as_str(), "***");
        }
        message
    }

    build!(spans, SpanExporter, "traces");
    build!(metrics, MetricExporter, "metrics");
    build!(logs, LogExporter, "logs");
}

#[cfg(all(test, any(feature = "otlp-grpc", feature = "otlp-http")))]
mod tests {
    use std::{collections::BTreeMap, time::Duration};

    use super::otlp::masked;
    use crate::config::{OtlpSettings, Protocol};

    #[test]
    fn exporter_messages_lose_the_endpoints_userinfo_and_header_values() {
        let s = OtlpSettings {
            endpoint: "https://user:PASSWORD@collector:4318/v1/traces?token=TOKEN".into(),
            protocol: Protocol::HttpProtobuf,
            headers: BTreeMap::from([("authorization".into(), "Bearer SECRET".into())]),
            timeout: Duration::from_secs(1),
        };
        let message = format!("bad endpoint {} with header Bearer SECRET", s.endpoint);
        let shown = masked(&message, &s);
        for secret in ["PASSWORD", "TOKEN", "SECRET"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("https://***@collector:4318/v1/traces?***"),
            "{shown}"
        );
    }
}
