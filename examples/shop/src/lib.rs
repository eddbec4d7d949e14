//! The shop: seven small services that call each other over HTTP, a queue
//! and a database, traced end to end with o11y.
//!
//! | service | module | talks to |
//! |---|---|---|
//! | `api-gateway` | [`gateway`] | users, orders, the validator |
//! | `user-service` | [`users`] | nothing (in-memory store) |
//! | `order-service` | [`orders`] | users, payments, the `orders` queue |
//! | `payment-service` | [`payments`] | audit |
//! | `audit-service` | [`audit`] | PostgreSQL |
//! | `notification-service` | [`notifications`] | the `orders` queue, a webhook |
//! | `order-validator` | [`validator`] | nothing (a serverless-style function) |
//!
//! Each module builds its service (an axum `Router`, or a queue consumer)
//! from its configuration and the telemetry [`Guard`](o11y::Guard), so the
//! same code runs as its own process (`src/bin/`) or, in tests, next to the
//! others in one process. Every service answers `GET /health` and
//! `GET /metrics` (Prometheus text) and writes JSON logs that carry the
//! trace id and the correlation id.
//!
//! Run the whole shop with `cargo run -p shop --bin shop` (see the README).

pub mod audit;
pub mod gateway;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod users;
pub mod validator;

mod env;
mod service;

pub use env::{EnvError, env_or, port};
pub use service::{OrderCreated, bind, client, serve, telemetry};

/// The error type of the binaries' `main`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
