//! JSON logs that carry the trace, and OTLP log export.
//!
//! - [`JsonLayer`]: a `tracing-subscriber` layer writing one JSON object per
//!   event, one line each, with `trace_id`, `span_id` and `correlation_id`
//!   taken from the current OpenTelemetry context.
//! - [`NonBlocking`]: a writer with a bounded buffer that drops (and counts)
//!   lines rather than blocking the service.
//! - [`otlp_layer`]: `tracing` events as OpenTelemetry log records, so a
//!   collector gets each line with its trace and span ids.
//! - [`install`]: both layers on an [`o11y_core::Builder`],
//!   filtered by `LOG_LEVEL` / `RUST_LOG` ([`filter_from_env`]). `o11y::init`
//!   calls it when the `log` feature is on; [`install_with_writer`] picks
//!   another writer than standard output.
//!
//! ```no_run
//! # fn main() -> Result<(), o11y_core::InitError> {
//! let _guard = o11y_log::install(o11y_core::builder("order-service")).init()?;
//! tracing::info!(order_id = 42, "order placed");
//! // {"timestamp":"..","level":"INFO","target":"..","service":"order-service",
//! //  "message":"order placed","order_id":42}
//! # Ok(()) }
//! ```
//!
//! # Where the ids come from
//!
//! `trace_id`, `span_id` and `correlation_id` are read from
//! `opentelemetry::Context::current()` when the event happens: the context
//! o11y-http and o11y-queue attach while a handler runs, and the one the
//! tracing-opentelemetry layer (installed by `o11y_core`) attaches when a
//! `tracing` span is entered, including `#[instrument]` spans and futures
//! wrapped with `.instrument(span)` or `.with_context(cx)`. This is correct
//! under the global dispatcher and under a scoped one
//! (`tracing::subscriber::with_default`), where `Span::current()` is not.
//!
//! # Span events
//!
//! tracing-opentelemetry copies every event into a span event by default,
//! which costs more than writing the JSON line (see `BENCHMARKS.md`). Since
//! [`install`] sends every event to OTLP logs with its ids, the recommended
//! setting keeps only WARN and ERROR events on spans:
//!
//! ```
//! use tracing::Level;
//! use tracing_subscriber::{Layer, filter::filter_fn};
//!
//! let spans_only_warn_events = filter_fn(|meta| !meta.is_event() || *meta.level() <= Level::WARN);
//! # let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
//! # use opentelemetry::trace::TracerProvider as _;
//! let otel = tracing_opentelemetry::layer()
//!     .with_tracer(provider.tracer("app"))
//!     .with_filter(spans_only_warn_events);
//! # let _ = tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), otel);
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod bridge;
mod clock;
mod filter;
mod json;
mod writer;

pub use bridge::{BoundedBody, EXPORTER_CRATES, is_exporter_target, otlp_layer};
pub use clock::{Clock, SystemClock};
pub use filter::{LOG_LEVEL, RUST_LOG, filter_from_env, filter_from_lookup};
pub use json::{DEFAULT_MAX_VALUE_LEN, JsonLayer, RESERVED, RESERVED_PREFIX, TRUNCATED};
pub use writer::{DEFAULT_CAPACITY, NonBlocking, NonBlockingWriter, WorkerGuard};

use o11y_core::{BoxedLayer, Builder, Guard};
use tracing_subscriber::{
    Layer,
    filter::{FilterExt, filter_fn},
    fmt::MakeWriter,
    layer::Identity,
};

/// Adds this crate's layers to `builder`: the [`JsonLayer`] on standard
/// output with the service name, and the [`otlp_layer`] on the guard's logger
/// provider, both filtered by [`filter_from_env`]; and [`BoundedBody`], so
/// that an OTLP log body is cut after [`DEFAULT_MAX_VALUE_LEN`] bytes as a
/// JSON value is.
///
/// Standard output is written directly (no [`NonBlocking`] worker), so no
/// line is lost when the process exits. The OpenTelemetry SDK's own events
/// (targets `opentelemetry*`) are left out: the subscriber `o11y_core`
/// installs reports its export failures and drops on standard error,
/// rate-limited, instead of one JSON line per failed export.
pub fn install(builder: Builder) -> Builder {
    install_with_writer(builder, std::io::stdout)
}

/// [`install`], with the JSON lines going to `make_writer` (for example
/// `std::io::stderr`, or a [`NonBlocking`] whose [`WorkerGuard`] the caller
/// keeps until after the telemetry guard is dropped).
pub fn install_with_writer<W>(builder: Builder, make_writer: W) -> Builder
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    builder
        .with_log_processor(BoundedBody::new(DEFAULT_MAX_VALUE_LEN))
        .with_layer(move |guard: &Guard| -> BoxedLayer {
            let layer = JsonLayer::new()
                .with_writer(make_writer)
                .with_service(guard.service_name());
            let not_sdk = filter_fn(|meta| !meta.target().starts_with("opentelemetry"));
            Box::new(layer.with_filter(filter_from_env().and(not_sdk)))
        })
        .with_layer(otlp_bridge)
}

fn otlp_bridge(guard: &Guard) -> BoxedLayer {
    match guard.logger_provider() {
        Some(provider) => Box::new(otlp_layer(&provider, filter_from_env())),
        None => Box::new(Identity::new()),
    }
}
