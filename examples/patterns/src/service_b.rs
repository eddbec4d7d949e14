//! Service B: does work, calls back into A (a circular call) and on to C,
//! and fails on demand.
//!
//! | route | does |
//! |---|---|
//! | `GET /process` | the work |
//! | `GET /circular` | calls A's `/call/b`, which calls B's `/process`: B twice in one trace |
//! | `GET /duplicate` | calls C's `/process` through a proxy that repeats `traceparent` |
//! | `GET /cascade` | calls C's `/error` and fails in turn (502) |
//! | `GET /error`, `/timeout`, `/db-error`, `/memory-error` | fail: 500, 504, 503, 507 |

use axum::{Json, Router, extract::State, routing::get};
use futures_util::future::BoxFuture;
use http::{Extensions, HeaderValue};
use reqwest_middleware::{ClientBuilder, Next};
use serde_json::{Value, json};

use crate::{Config, Failure, Peer};

#[derive(Clone)]
struct B {
    a: Peer,
    c: Peer,
    c_behind_proxy: Peer,
}

/// Service B's routes, with its telemetry layer.
pub fn router(config: &Config) -> Router {
    let client = config.telemetry.http_client(config.call_timeout);
    let proxied = reqwest::Client::builder()
        .timeout(config.call_timeout)
        .build()
        .unwrap_or_default();
    let proxied = ClientBuilder::new(proxied)
        .with(config.telemetry.client_middleware())
        .with(repeat_traceparent)
        .build();
    let state = B {
        a: Peer::new(&config.service_a, client.clone()),
        c: Peer::new(&config.service_c, client),
        c_behind_proxy: Peer::new(&config.service_c, proxied),
    };
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/process", get(process))
        .route("/circular", get(circular))
        .route("/duplicate", get(duplicate))
        .route("/cascade", get(cascade))
        .route("/error", get(|| async { Failure::Internal }))
        .route("/timeout", get(|| async { Failure::Timeout }))
        .route("/db-error", get(|| async { Failure::Database }))
        .route("/memory-error", get(|| async { Failure::Memory }))
        .with_state(state)
        .layer(config.telemetry.server_layer())
}

async fn process() -> Json<Value> {
    tracing::info!("processed");
    Json(json!({ "service": "service-b", "result": "processed" }))
}

async fn circular(State(b): State<B>) -> Result<Json<Value>, Failure> {
    tracing::info!("asking A to call back");
    let answer = b.a.get("/call/b", "/call/b").await.map_err(crate::failed)?;
    Ok(Json(json!({ "a": answer })))
}

async fn duplicate(State(b): State<B>) -> Result<Json<Value>, Failure> {
    tracing::info!("calling C through the proxy");
    let answer = b
        .c_behind_proxy
        .get("/process", "/process")
        .await
        .map_err(crate::failed)?;
    Ok(Json(json!({ "c": answer })))
}

async fn cascade(State(b): State<B>) -> Result<Json<Value>, Failure> {
    tracing::info!("calling C");
    let answer = b.c.get("/error", "/error").await.map_err(crate::failed)?;
    Ok(Json(json!({ "c": answer })))
}

/// Plays a misconfigured proxy between B and C: it sends `traceparent`
/// twice, the way a proxy that appends instead of replacing does.
fn repeat_traceparent<'a>(
    mut request: reqwest::Request,
    extensions: &'a mut Extensions,
    next: Next<'a>,
) -> BoxFuture<'a, reqwest_middleware::Result<reqwest::Response>> {
    let value: Option<HeaderValue> = request.headers().get("traceparent").cloned();
    if let Some(value) = value {
        request.headers_mut().append("traceparent", value);
    }
    Box::pin(next.run(request, extensions))
}
