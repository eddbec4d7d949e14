//! Observability for Rust services in one dependency.
//!
//! `o11y` sets up OpenTelemetry (traces, metrics, logs; OTLP export; the
//! standard `OTEL_*` variables), propagates W3C trace context and a correlation
//! id (`X-Trace-ID`) through HTTP and message queues, and writes JSON logs that
//! carry `trace_id` and `span_id`.
//!
//! ```no_run
//! # fn main() -> Result<(), o11y::InitError> {
//! let _guard = o11y::init("order-service")?; // flushes everything when dropped
//! tracing::info!(order_id = 42, "order placed");
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `http` | `o11y::http`: tower server and client layers |
//! | `reqwest` | `o11y::http::ClientMiddleware` for reqwest-middleware |
//! | `queue` | `o11y::queue`: trace context across message queues (the in-memory transport) |
//! | `redis`, `amqp`, `sqs` | `o11y::queue`'s Redis, RabbitMQ and Amazon SQS transports |
//! | `log` | `o11y::log`: the JSON log layer, installed by [`init`] |
//! | `macros` | `#[o11y::main]`, `#[o11y::traced]` (`#[o11y::main]` builds the service's own tokio runtime: depend on `tokio` with `rt-multi-thread` and `macros`) |
//! | `signal` | [`shutdown_signal`]: completes on SIGTERM or Ctrl-C (on with `macros`) |
//! | `otlp`, `otlp-grpc`, `otlp-http` | OTLP export |
//! | `stdout` | console exporters |
//! | `prometheus` | a Prometheus text exposition for `/metrics` |
//! | `testing` | `o11y::testing`: in-memory span capture and trace-tree assertions |
//! | `full` | everything but `testing` |
//!
//! The OpenTelemetry crates this was built with are re-exported
//! ([`opentelemetry`], [`opentelemetry_sdk`], [`tracing_opentelemetry`]) so
//! that a service never picks a second, incompatible version.
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's code, compiled as a doctest so that it stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use o11y_core::testing;
pub use o11y_core::{
    BoxedLayer, Builder, ConfigError, CorrelationContextExt, CorrelationId, CorrelationRef, Guard,
    InitError, InvalidCorrelationId, ShutdownError, TELEMETRY_DROPPED, TELEMETRY_QUEUE_SIZE,
    X_REQUEST_ID, X_TRACE_ID, config, current_correlation_id, current_span_id, current_trace_id,
    db, faas, propagation, sampler,
};
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use o11y_core::{PrometheusHandle, installed_prometheus};
#[cfg(feature = "signal")]
#[cfg_attr(docsrs, doc(cfg(feature = "signal")))]
pub use o11y_core::{Signals, shutdown_signal};

pub use opentelemetry;
pub use opentelemetry_sdk;
pub use tracing_opentelemetry;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub use o11y_http as http;
#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub use o11y_log as log;
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use o11y_macros::*;
#[cfg(feature = "queue")]
#[cfg_attr(docsrs, doc(cfg(feature = "queue")))]
pub use o11y_queue as queue;

/// Starts telemetry for `service_name`: reads the `OTEL_*` variables, installs
/// the providers, the propagator and the `tracing` subscriber (with the JSON
/// log layer when the `log` feature is on). Keep the guard alive.
pub fn init(service_name: impl Into<String>) -> Result<Guard, InitError> {
    builder(service_name).init()
}

/// A [`Builder`] with this crate's defaults (the JSON log layer when the `log`
/// feature is on); settings made in code win over the environment.
pub fn builder(service_name: impl Into<String>) -> Builder {
    let builder = o11y_core::builder(service_name);
    #[cfg(feature = "log")]
    let builder = o11y_log::install(builder);
    builder
}

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
