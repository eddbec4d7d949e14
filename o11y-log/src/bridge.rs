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

use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::{
    Layer,
    filter::{FilterExt, Targets, filter_fn},
    registry::LookupSpan,
};

/// Crates whose events never reach the bridge: the exporter's own stack.
pub const EXPORTER_CRATES: &[&str] = &["opentelemetry", "tonic", "h2", "hyper", "reqwest", "tower"];

/// Whether `target` belongs to one of [`EXPORTER_CRATES`] (`opentelemetry_sdk`,
/// `hyper_util::client`, `h2::codec` do; `h2o` does not).
pub fn is_exporter_target(target: &str) -> bool {
    EXPORTER_CRATES.iter().any(|name| {
        target.strip_prefix(name).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with("::") || rest.starts_with(['_', '-'])
        })
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_targets_are_recognised() {
        for own in [
            "opentelemetry",
            "opentelemetry_sdk::logs",
            "opentelemetry-otlp",
            "tonic::transport",
            "h2",
            "hyper_util::client",
            "reqwest::connect",
            "tower::buffer",
        ] {
            assert!(is_exporter_target(own), "{own}");
        }
        for app in ["h2o", "shop", "hyperion", "my_app::tonic", "towering"] {
            assert!(!is_exporter_target(app), "{app}");
        }
    }
}
