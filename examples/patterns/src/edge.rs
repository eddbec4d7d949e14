//! The edge: plays nginx's part in front of A, B and C. It assigns the
//! correlation id (`X-Trace-ID`) when the request brings none, so every
//! service and log line downstream shares it, echoes it on the response, and
//! proxies `/a/..`, `/b/..` and `/c/..` to the services.
//!
//! The proxy is plain business code: its one telemetry layer starts the
//! request's trace and correlation id, and the instrumented client carries
//! both upstream (replacing whatever context headers came in).

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use http::{HeaderMap, HeaderName, StatusCode, header};
use reqwest_middleware::ClientWithMiddleware;

use crate::Config;

/// The largest request body forwarded.
const MAX_BODY: usize = 1 << 20;

#[derive(Clone)]
struct Edge {
    client: ClientWithMiddleware,
    a: String,
    b: String,
    c: String,
}

/// The edge's routes, with its telemetry layer.
pub fn router(config: &Config) -> Router {
    let state = Edge {
        // Longer than a service's own calls, so that they time out first.
        client: config
            .telemetry
            .http_client(config.call_timeout.saturating_mul(4)),
        a: config.service_a.clone(),
        b: config.service_b.clone(),
        c: config.service_c.clone(),
    };
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/a/{*path}",
            any(|State(e): State<Edge>, r| async move { forward(&e.client, &e.a, "/a", r).await }),
        )
        .route(
            "/b/{*path}",
            any(|State(e): State<Edge>, r| async move { forward(&e.client, &e.b, "/b", r).await }),
        )
        .route(
            "/c/{*path}",
            any(|State(e): State<Edge>, r| async move { forward(&e.client, &e.c, "/c", r).await }),
        )
        .with_state(state)
        .layer(config.telemetry.server_layer())
}

/// Headers that belong to one connection, and the context headers the
/// instrumented client writes itself.
fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ]
    .contains(name)
        || [
            "keep-alive",
            "traceparent",
            "tracestate",
            "baggage",
            "x-trace-id",
            "x-request-id",
        ]
        .contains(&name.as_str())
}

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    headers
        .iter()
        .filter(|(name, _)| !hop_by_hop(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

async fn forward(
    client: &ClientWithMiddleware,
    upstream: &str,
    prefix: &str,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().strip_prefix(prefix).unwrap_or("/");
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let sent = client
        .request(parts.method, format!("{upstream}{path}{query}"))
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(error) => {
            let status = match error.is_timeout() {
                true => StatusCode::GATEWAY_TIMEOUT,
                false => StatusCode::BAD_GATEWAY,
            };
            tracing::warn!(upstream, %error, status = status.as_u16(), "upstream failed");
            return status.into_response();
        }
    };
    let status = answer.status();
    let headers = end_to_end(answer.headers());
    let Ok(bytes) = answer.bytes().await else {
        tracing::warn!(upstream, "upstream body failed");
        return StatusCode::BAD_GATEWAY.into_response();
    };
    tracing::info!(upstream, path, status = status.as_u16(), "proxied");
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
