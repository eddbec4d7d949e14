//! Three services and an edge, the way a team would write them with o11y:
//! each module is one service exposing `router(&Config)`, and `src/bin/`
//! holds the thin binaries that serve them.
//!
//! | service | what it does | scenarios |
//! |---|---|---|
//! | [`edge`] | plays nginx's part: assigns `X-Trace-ID` once, proxies `/a/..`, `/b/..`, `/c/..` | B11, C6 |
//! | [`service_a`] | orchestrates B and C: in parallel, in sequence, in a chain | B1, B2, B6-B9 |
//! | [`service_b`] | works, calls back into A and on to C, fails on demand | B4, B5, B8, B10 |
//! | [`service_c`] | processes requests and queued jobs, fails on demand | B3, B10, C8 |
//!
//! Every router carries one layer, [`Telemetry::server_layer`], and every
//! outbound call goes through [`Telemetry::http_client`]: that is all the
//! instrumentation there is. The rest is business code.
//!
//! ```no_run
//! # async fn run() -> Result<(), patterns::Error> {
//! let config = patterns::Config::from_env(8082)?;
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! axum::serve(listener, patterns::service_b::router(&config))
//!     .with_graceful_shutdown(o11y::shutdown_signal())
//!     .await?;
//! # Ok(()) }
//! ```

mod call;
mod config;
pub mod edge;
mod failure;
pub mod service_a;
pub mod service_b;
pub mod service_c;

pub use call::{CallError, Peer};
pub use config::{
    CALL_TIMEOUT_MS, Config, ConfigError, HOST, JOBS_QUEUE, PORT, SERVICE_A_URL, SERVICE_B_URL,
    SERVICE_C_URL, Telemetry,
};
pub use failure::Failure;
use failure::failed;

/// Why a service binary stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting in the environment is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listener could not be bound, or serving failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    /// The job queue could not be reached.
    #[error(transparent)]
    Queue(#[from] o11y::queue::SelectError),
}
