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
