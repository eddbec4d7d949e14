//! Service C: processes requests and queued jobs, and fails on demand.
//!
//! | route | does |
//! |---|---|
//! | `GET /process?delay_ms=N` | the work, taking `N` ms (at most 10 s) |
//! | `GET /circular` | calls A's `/call/c`, which calls C's `/process`: C twice in one trace |
//! | `GET /error`, `/auth-error`, `/rate-limit-error`, `/dependency-error` | fail: 500, 401, 429, 502 |
//!
//! [`consume_jobs`] processes the jobs queue ([`Config::jobs_queue`]).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};
use o11y::queue::{Incoming, Transport};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Config, Failure, Peer};

/// The longest `delay_ms` honoured.
const MAX_DELAY: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct C {
    a: Peer,
}

/// Service C's routes, with its telemetry layer.
pub fn router(config: &Config) -> Router {
    let client = config.telemetry.http_client(config.call_timeout);
    let state = C {
        a: Peer::new(&config.service_a, client),
    };
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/process", get(process))
        .route("/circular", get(circular))
        .route("/error", get(|| async { Failure::Internal }))
        .route("/auth-error", get(|| async { Failure::Auth }))
        .route("/rate-limit-error", get(|| async { Failure::RateLimit }))
        .route("/dependency-error", get(|| async { Failure::Dependency }))
        .with_state(state)
        .layer(config.telemetry.server_layer())
}

#[derive(Deserialize)]
struct Work {
    delay_ms: Option<u64>,
}

async fn process(Query(work): Query<Work>) -> Json<Value> {
    let delay = Duration::from_millis(work.delay_ms.unwrap_or(0)).min(MAX_DELAY);
    tracing::info!(delay_ms = delay.as_millis() as u64, "processing");
    tokio::time::sleep(delay).await;
    tracing::info!("processed");
    Json(json!({ "service": "service-c", "result": "processed" }))
}

async fn circular(State(c): State<C>) -> Result<Json<Value>, Failure> {
    tracing::info!("asking A to call back");
    let answer = c.a.get("/call/c", "/call/c").await.map_err(crate::failed)?;
    Ok(Json(json!({ "a": answer })))
}

/// Processes jobs from [`Config::jobs_queue`] until `shutdown` completes. Each job runs in
/// the trace of whoever published it, or in a new trace when the message
/// carries no usable context (a producer without tracing, a corrupt
/// envelope): it is processed either way.
pub async fn consume_jobs<T: Transport>(
    transport: T,
    config: &Config,
    shutdown: impl Future<Output = ()>,
) {
    let consumer = config.telemetry.consumer(transport);
    consumer
        .run_until(&config.jobs_queue, handle_job, shutdown)
        .await;
}

async fn handle_job(job: Incoming) -> Result<(), std::convert::Infallible> {
    tracing::info!(
        job.id = job.id.as_deref().unwrap_or("-"),
        job.bytes = job.payload.len(),
        job.attempt = job.attempt,
        "job processed"
    );
    Ok(())
}
