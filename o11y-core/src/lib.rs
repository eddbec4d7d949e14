//! The core of o11y-rs: one-call OpenTelemetry setup, a W3C Trace Context
//! implementation stricter than the SDK's, and a correlation id that follows
//! the trace.
//!
//! ```no_run
//! # fn main() -> Result<(), o11y_core::InitError> {
//! let _guard = o11y_core::init("order-service")?; // flushes on drop
//! tracing::info!(order_id = 42, "order placed");
//! # Ok(()) }
//! ```
//!
//! # When the collector is down
//!
//! Spans and log records wait for OTLP export in bounded queues, each held
//! to a count (`OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE`,
//! default 2 048) and to an estimated size in bytes
//! (`O11Y_BSP_MAX_QUEUE_BYTES`, `O11Y_BLRP_MAX_QUEUE_BYTES`, default 16 MiB,
//! so that large items cannot grow the service by gigabytes during an
//! outage). Past either bound a new item is dropped, never waited for.
//! What never reaches the collector is counted on the guard's meter
//! provider, next to the service's own metrics (in Prometheus:
//! `o11y_telemetry_dropped_total`, `o11y_telemetry_queue_size_bytes`):
//!
//! | metric | attributes | what |
//! |---|---|---|
//! | [`o11y.telemetry.dropped`](TELEMETRY_DROPPED) | `signal` = `spans`, `logs`; `reason` = `queue_full`, `bytes_full`, `export_failed`, `shutdown` | items dropped at a full queue, or in a batch the exporter failed to send (refused, timed out, rejected), or ending after shutdown began |
//! | [`o11y.telemetry.queue.size`](TELEMETRY_QUEUE_SIZE) | `signal` | estimated bytes waiting or being exported |
//!
//! An item's bytes are held until the exporter is done with its batch,
//! successful or not. Export failures and a full queue's drops are also
//! reported on standard error, one line per 10 s at most (see
//! [`Builder::install_subscriber`]); a full queue's warning is a `tracing`
//! WARN event of target `o11y_core::export`, so the service's JSON logs show
//! it too, and it is never exported.
//!
//! # Features
//! - `otlp`: OTLP export over gRPC (`otlp-grpc`) and HTTP/protobuf (`otlp-http`).
//! - `stdout`: console exporters.
//! - `prometheus`: a Prometheus text exposition for a `/metrics` route.
//! - `signal`: [`shutdown_signal`], a future that completes on SIGTERM or Ctrl-C.
//! - `testing`: [`testing::Capture`], an in-memory span capture with trace-tree assertions.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::print_stdout,
        clippy::print_stderr
    )
)]

pub mod config;
mod correlation;
pub mod db;
mod error;
pub mod faas;
mod hex;
mod init;
pub mod propagation;
pub mod sampler;

#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
mod prometheus;
#[cfg(feature = "signal")]
#[cfg_attr(docsrs, doc(cfg(feature = "signal")))]
mod signal;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "signal")]
#[cfg_attr(docsrs, doc(cfg(feature = "signal")))]
pub use signal::{Signals, shutdown_signal};

pub use correlation::{
    CorrelationContextExt, CorrelationId, CorrelationRef, InvalidCorrelationId,
    MAX_LEN as CORRELATION_ID_MAX_LEN, X_REQUEST_ID, X_TRACE_ID,
};
pub use error::{ConfigError, InitError, ShutdownError};
#[cfg(feature = "prometheus")]
pub use init::installed_prometheus;
pub use init::{
    BoxedLayer, Builder, EXPORTER_CRATES, Guard, TELEMETRY_DROPPED, TELEMETRY_QUEUE_SIZE, builder,
    init, installed_meter_provider, installed_tracer_provider, is_exporter_target,
};
#[cfg(feature = "prometheus")]
pub use prometheus::PrometheusHandle;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};

/// The trace id of the current span, if there is a valid one.
pub fn current_trace_id() -> Option<TraceId> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| sc.trace_id())
    })
}

/// The span id of the current span, if there is a valid one.
pub fn current_span_id() -> Option<SpanId> {
    opentelemetry::Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| sc.span_id())
    })
}

/// The correlation id of the current context, if any: the stored one, or
/// else the current trace id.
pub fn current_correlation_id() -> Option<CorrelationId> {
    CorrelationId::current()
}
