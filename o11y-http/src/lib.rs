//! Tower layers that trace HTTP servers and clients with OpenTelemetry.
//!
//! - [`ServerLayer`]: extracts the caller's context (strict W3C, duplicated
//!   `traceparent` headers cleaned) and the correlation id (generated when
//!   absent), makes a SERVER span named `{method} {route}` with the stable
//!   HTTP semantic conventions, keeps it current while the handler runs,
//!   echoes the correlation id, and records `http.server.request.duration`
//!   and `http.server.active_requests`.
//! - [`ClientLayer`]: makes a CLIENT span, injects `traceparent`, `tracestate`,
//!   `baggage` and the correlation id (replacing, never duplicating), and
//!   records `http.client.request.duration`.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use o11y_http::ServerLayer;
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "ada" }))
//!     .layer(ServerLayer::new().skip_paths(["/health"]));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! `client.address` is the client behind any proxies when a `Forwarded` or
//! `X-Forwarded-For` header names a valid IP address, else the connection's
//! peer when the server provides it (axum:
//! `router.into_make_service_with_connect_info::<SocketAddr>()`).
//!
//! # Metrics cost
//! With the SDK's meter provider (given to `meter_provider`, or installed by
//! `o11y::init`), `http.server.request.duration` records through histograms
//! bound once per (method, scheme, route, status), so a request does not pay
//! for the SDK hashing its attribute set; up to 2 000 such sets are bound,
//! more take the SDK's ordinary path (nothing is dropped). This uses the
//! OpenTelemetry SDK's `experimental_metrics_bound_instruments` feature,
//! which this crate enables. `http.server.active_requests` is kept in atomics
//! and observed at collection.
//!
//! # Sampling cost
//! With the tracer provider that `o11y::init` installed (or a guard's, given
//! to `telemetry`), a request whose span the sampler would drop costs no SDK
//! span: the layer asks the provider's sampler first and keeps only the
//! identity the span would have had (what handlers, logs and outgoing calls
//! carry); a span it records gets its name and attributes in one go, before
//! the SDK starts it. See `o11y_core::Presampler`. With a provider built by
//! hand, the SDK builds and drops such a span.
//!
//! # Several cores
//! What every request changes is kept per thread, so that requests served on
//! several cores at once do not take cache lines from each other: the
//! in-flight counts, the reference counts of the layer's settings (axum
//! clones the service a layer made for every request, and the request holds
//! the settings until its response is done), and the request durations.
//! Each attribute set's SDK histogram is one lock with its buckets, so a
//! thread queues its durations and hands them to the SDK 32 at a time, and
//! every collection takes every thread's queue first: an export never
//! misses a measurement. The SDK runs no callback of an instrument a view
//! drops, so two callbacks take the queues: that of an observable gauge
//! named `o11y.http.server.request.duration.pending` (which itself observes
//! nothing) and that of `http.server.active_requests`. A view that drops
//! both while keeping `http.server.request.duration` delays each thread's
//! durations to its next full queue; keep either one.
//!
//! Telemetry never changes the response: a malformed header starts a new
//! trace, a hostile correlation id is replaced, and nothing here returns an
//! error or panics on input.
//!
//! # Features
//! - `axum` (default): span names from axum's `MatchedPath`.
//! - `reqwest`: [`TracingMiddleware`] for reqwest-middleware.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod client;
mod clock;
mod intern;
mod metrics;
mod semconv;
mod server;
mod shared;
mod tracer;

#[cfg(feature = "reqwest")]
pub use client::reqwest::TracingMiddleware;
pub use client::{Client, ClientLayer, ClientRoute, NoPropagation};
pub use server::{Server, ServerLayer};

/// Response futures of the services in this crate.
pub mod future {
    pub use crate::client::ResponseFuture as ClientResponseFuture;
    pub use crate::server::ResponseFuture as ServerResponseFuture;
}
