//! The OTLP log bridge: `tracing` events become OpenTelemetry log records
//! (through `opentelemetry-appender-tracing`) with the trace and span ids of
//! the current context, minus the events of the exporter's own crates, so
//! exporting never logs itself in a loop.
//!
//! ```
//! use opentelemetry_sdk::logs::SdkLoggerProvider;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let provider = SdkLoggerProvider::builder().build();
//! let subscriber = tracing_subscriber::registry()
//!     .with(o11y_log::otlp_layer(&provider, o11y_log::filter_from_env()));
//! tracing::subscriber::with_default(subscriber, || tracing::info!("to the collector"));
//! ```

use opentelemetry::{InstrumentationScope, logs::AnyValue, logs::LogRecord as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::{
    error::OTelSdkResult,
    logs::{LogProcessor, SdkLogRecord, SdkLogger, SdkLoggerProvider},
};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::{
    Layer,
    filter::{FilterExt, Targets, filter_fn},
    registry::LookupSpan,
};

pub use o11y_core::{EXPORTER_CRATES, is_exporter_target};

/// The bridge layer for `provider`, filtered by `filter` and without the
/// events of [`EXPORTER_CRATES`].
pub fn otlp_layer<S>(provider: &SdkLoggerProvider, filter: Targets) -> impl Layer<S> + use<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let own = filter_fn(|meta: &Metadata<'_>| !is_exporter_target(meta.target()));
    OpenTelemetryTracingBridge::<SdkLoggerProvider, SdkLogger>::new(provider)
        .with_filter(filter.and(own))
}

/// A log processor that cuts a text body longer than `max` bytes (at a
/// character boundary, ending it with [`TRUNCATED`](crate::TRUNCATED)), so
/// that one huge message cannot fill an export. [`install`](crate::install)
/// adds it with [`DEFAULT_MAX_VALUE_LEN`](crate::DEFAULT_MAX_VALUE_LEN), the
/// JSON lines' bound, ahead of the exporter.
#[derive(Debug)]
pub struct BoundedBody {
    max: usize,
}

impl BoundedBody {
    /// Bodies are cut after `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max }
    }
}

impl LogProcessor for BoundedBody {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        let cut = match record.body() {
            Some(AnyValue::String(text)) if text.as_str().len() > self.max => {
                let text = text.as_str();
                let end = (0..=self.max)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                let mut cut = String::with_capacity(end + crate::TRUNCATED.len());
                cut.push_str(text.get(..end).unwrap_or_default());
                cut.push_str(crate::TRUNCATED);
                cut
            }
            _ => return,
        };
        record.set_body(AnyValue::from(cut));
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    /// Nothing to release (without this, the SDK warns at every shutdown).
    fn shutdown_with_timeout(&self, _timeout: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::logs::InMemoryLogExporter;
    use tracing_subscriber::{filter::LevelFilter, layer::SubscriberExt};

    use super::*;

    #[test]
    fn long_bodies_are_cut_before_export_and_short_ones_kept() {
        let exporter = InMemoryLogExporter::default();
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(BoundedBody::new(10))
            .with_simple_exporter(exporter.clone())
            .build();
        let filter = Targets::new().with_default(LevelFilter::INFO);
        let subscriber = tracing_subscriber::registry().with(otlp_layer(&provider, filter));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("short");
            tracing::info!("{}", "é".repeat(100));
        });
        let bodies: Vec<String> = exporter
            .get_emitted_logs()
            .unwrap()
            .iter()
            .map(|l| match l.record.body() {
                Some(AnyValue::String(s)) => s.as_str().to_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            bodies,
            ["short".to_owned(), format!("ééééé{}", crate::TRUNCATED)]
        );
    }

    /// Counts WARN and ERROR events of the SDK.
    #[derive(Clone, Default)]
    struct SdkWarnings(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl<S: tracing::Subscriber> Layer<S> for SdkWarnings {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let meta = event.metadata();
            if meta.target().starts_with("opentelemetry") && *meta.level() <= tracing::Level::WARN {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn shutting_down_makes_the_sdk_warn_about_nothing() {
        let warnings = SdkWarnings::default();
        let subscriber = tracing_subscriber::registry().with(warnings.clone());
        tracing::subscriber::with_default(subscriber, || {
            let provider = SdkLoggerProvider::builder()
                .with_log_processor(BoundedBody::new(10))
                .build();
            provider.shutdown().unwrap();
        });
        assert_eq!(warnings.0.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
