//! Service A: orchestrates B and C.
//!
//! | route | does |
//! |---|---|
//! | `GET /parallel` | calls B and C at once |
//! | `GET /sequential` | calls B, then C |
//! | `GET /timeout` | calls B, and C with a job that outlasts the call timeout |
//! | `GET /partial` | calls B (works) and C's `/error`; answers with what it got |
//! | `GET /cascade` | calls B's `/cascade` (B calls C's `/error`): the error travels back |
//! | `GET /chain?fail_at=k` | four steps, B, C, B, C, one after the other; step `k` fails and ends the chain |
//! | `GET /call/b`, `GET /call/c` | calls B's or C's `/process` (the far end of a circular call) |

use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{CallError, Config, Failure, Peer, failed};

#[derive(Clone)]
struct A {
    b: Peer,
    c: Peer,
    /// Asked of C by `/timeout`: twice what a call may take.
    slow_job: String,
}

/// Service A's routes, with its telemetry layer.
pub fn router(config: &Config) -> Router {
    let client = config.telemetry.http_client(config.call_timeout);
    let slow = config.call_timeout.saturating_mul(2).as_millis();
    let state = A {
        b: Peer::new(&config.service_b, client.clone()),
        c: Peer::new(&config.service_c, client),
        slow_job: format!("/process?delay_ms={slow}"),
    };
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/parallel", get(parallel))
        .route("/sequential", get(sequential))
        .route("/timeout", get(timeout))
        .route("/partial", get(partial))
        .route("/cascade", get(cascade))
        .route("/chain", get(chain))
        .route("/call/b", get(call_b))
        .route("/call/c", get(call_c))
        .with_state(state)
        .layer(config.telemetry.server_layer())
}

async fn parallel(State(a): State<A>) -> Result<Json<Value>, Failure> {
    tracing::info!("calling B and C in parallel");
    let (b, c) = tokio::join!(
        a.b.get("/process", "/process"),
        a.c.get("/process", "/process")
    );
    Ok(Json(
        json!({ "b": b.map_err(failed)?, "c": c.map_err(failed)? }),
    ))
}

async fn sequential(State(a): State<A>) -> Result<Json<Value>, Failure> {
    tracing::info!("calling B, then C");
    let b = a.b.get("/process", "/process").await.map_err(failed)?;
    let c = a.c.get("/process", "/process").await.map_err(failed)?;
    Ok(Json(json!({ "b": b, "c": c })))
}

async fn timeout(State(a): State<A>) -> Result<Json<Value>, Failure> {
    tracing::info!("calling B, and C with a slow job");
    let (b, c) = tokio::join!(
        a.b.get("/process", "/process"),
        a.c.get("/process", &a.slow_job)
    );
    Ok(Json(
        json!({ "b": b.map_err(failed)?, "c": c.map_err(failed)? }),
    ))
}

/// Degrades instead of failing: B's answer, and C's error in the body.
async fn partial(State(a): State<A>) -> Json<Value> {
    tracing::info!("calling B and C, keeping what works");
    let (b, c) = tokio::join!(a.b.get("/process", "/process"), a.c.get("/error", "/error"));
    let text = |r: Result<String, CallError>| r.unwrap_or_else(|e| format!("failed: {e}"));
    if c.is_err() {
        tracing::warn!("C failed; answering with B's part");
    }
    Json(json!({ "b": text(b), "c": text(c) }))
}

async fn cascade(State(a): State<A>) -> Result<Json<Value>, Failure> {
    tracing::info!("calling B");
    let b = a.b.get("/cascade", "/cascade").await.map_err(failed)?;
    Ok(Json(json!({ "b": b })))
}

#[derive(Deserialize)]
struct Chain {
    fail_at: Option<usize>,
}

/// The steps of `/chain`, in order.
const STEPS: usize = 4;

async fn chain(State(a): State<A>, Query(chain): Query<Chain>) -> Result<Json<Value>, Failure> {
    tracing::info!(fail_at = chain.fail_at, "running the chain");
    for step in 1..=STEPS {
        let peer = if step % 2 == 1 { &a.b } else { &a.c };
        let (route, path) = match chain.fail_at == Some(step) {
            true => ("/error", "/error"),
            false => ("/process", "/process"),
        };
        tracing::info!(step, "chain step");
        peer.get(route, path).await.map_err(failed)?;
    }
    Ok(Json(json!({ "steps": STEPS })))
}

async fn call_b(State(a): State<A>) -> Result<Json<Value>, Failure> {
    call_back(&a.b).await
}

async fn call_c(State(a): State<A>) -> Result<Json<Value>, Failure> {
    call_back(&a.c).await
}

async fn call_back(peer: &Peer) -> Result<Json<Value>, Failure> {
    tracing::info!("calling back");
    let body = peer.get("/process", "/process").await.map_err(failed)?;
    Ok(Json(json!({ "result": body })))
}
