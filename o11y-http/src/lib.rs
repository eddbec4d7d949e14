//! Tower layers that trace HTTP servers and clients with OpenTelemetry.
//!
//! - [`ServerLayer`]: extracts the caller's context (strict W3C, duplicated
//!   `traceparent` headers cleaned) and the correlation id (generated when
//!   absent), makes a SERVER span named `{method} {route}` with the stable
//!   HTTP semantic conventions, keeps it current while the handler runs and
//!   while the response body is sent, echoes the correlation id, and records
//!   `http.server.request.duration` and `http.server.active_requests`. The
//!   span and the duration end when the response body ends (or fails, or is
//!   dropped), so a streamed response is inside its span.
//! - [`ClientLayer`] (tower clients) and `ClientMiddleware` (reqwest,
//!   feature `reqwest`): make a CLIENT span, inject `traceparent`,
//!   `tracestate`, `baggage` and the correlation id (replacing, never
//!   duplicating), and record `http.client.request.duration`.
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
//! # Providers
//! By default the layers use the tracer and meter providers and the
//! propagator that `o11y::init` installed (or any global ones), read at the
//! first request: making a layer changes nothing global. `tracer_provider`,
//! `meter_provider`, `propagator` and `guard` (the providers of an
//! `o11y_core::Guard` built without installing it) choose others. Any
//! number of layers on one meter provider add to the same metrics.
//!
//! # Attributes
//! `client.address` is the client behind any proxies when the caller is
//! trusted (see [`Trust`]) and a `Forwarded` or `X-Forwarded-For` header
//! names a valid IP address, else the connection's peer when the server
//! provides it (axum:
//! `router.into_make_service_with_connect_info::<SocketAddr>()`).
//! `url.path` is recorded without `;jsessionid=`-style segment parameters.
//! `url.query` and request headers are recorded only when asked for, and
//! then the secrets in [`redact`]'s lists (and the layer's own additions) as
//! `REDACTED`.
//!
//! # Trust and baggage
//! [`Trust`] decides whose `traceparent`, `baggage` and forwarded headers a
//! server believes (default: everyone's; set `Trust::None` or a list of
//! networks at the edge). On the way out, `baggage` goes only to the hosts a
//! client layer allows ([`ClientLayer::baggage_hosts`]); trace context and
//! the correlation id go everywhere unless a request carries
//! [`NoPropagation`].
//!
//! Telemetry never changes the response: a malformed header starts a new
//! trace, a hostile correlation id is replaced, and nothing here returns an
//! error or panics on input.
//!
//! # Features
//! - `axum` (default): span names from axum's `MatchedPath`, `client.address`
//!   from its `ConnectInfo`.
//! - `reqwest`: `ClientMiddleware` for reqwest-middleware.
#![cfg_attr(docsrs, feature(doc_cfg))]
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
mod metrics;
pub mod redact;
mod semconv;
mod server;
mod tracer;

#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use client::reqwest::ClientMiddleware;
pub use client::{Client, ClientLayer, ClientRoute, NoPropagation};
pub use server::{InvalidNetwork, Network, Server, ServerLayer, Trust};

/// Response futures and bodies of the services in this crate.
pub mod future {
    pub use crate::client::ResponseFuture as ClientResponseFuture;
    pub use crate::server::{
        ResponseBody as ServerResponseBody, ResponseFuture as ServerResponseFuture,
    };
}
