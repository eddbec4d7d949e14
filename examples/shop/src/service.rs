//! What every service of the shop shares: telemetry start, the HTTP
//! client, the routes every service has, serving with graceful shutdown,
//! and the order event.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{Json, Router, http::header::CONTENT_TYPE, response::IntoResponse, routing::get};
use o11y::{
    Guard, InitError,
    config::ExporterKind,
    http::{ClientMiddleware, ServerLayer},
    opentelemetry::{
        global,
        metrics::{Meter, MeterProvider as _},
    },
};
use reqwest_middleware::ClientWithMiddleware;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// The event `order-service` publishes and `notification-service` consumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The new order.
    pub order_id: u64,
    /// Who ordered.
    pub user_id: u64,
    /// Where the confirmation goes.
    pub email: String,
    /// The order's value.
    pub amount: f64,
}

/// Starts telemetry for `service` from the `OTEL_*` variables, with JSON logs
/// on standard output. Metrics go to the service's `/metrics` page unless
/// `OTEL_METRICS_EXPORTER` says otherwise. Keep the guard until exit.
pub fn telemetry(service: &str) -> Result<Guard, InitError> {
    let builder = o11y::builder(service);
    let builder = match std::env::var("OTEL_METRICS_EXPORTER") {
        Ok(_) => builder,
        Err(_) => builder.metrics_exporter(ExporterKind::Prometheus),
    };
    builder.init()
}

/// The meter of a service's business metrics.
pub(crate) fn meter(guard: &Guard) -> Meter {
    match guard.meter_provider() {
        Some(provider) => provider.meter("shop"),
        None => global::meter("shop"),
    }
}

/// An HTTP client whose calls are CLIENT spans that carry the context on.
pub fn client(guard: &Guard) -> ClientWithMiddleware {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    reqwest_middleware::ClientBuilder::new(http)
        .with(ClientMiddleware::new().guard(guard))
        .build()
}

/// Adds `GET /health` and `GET /metrics` to `router`.
pub(crate) fn with_basics(router: Router, guard: &Guard) -> Router {
    let metrics = guard.prometheus();
    let render = move || {
        let metrics = metrics.clone();
        async move {
            match metrics {
                Some(m) => (
                    [(CONTENT_TYPE, o11y::PrometheusHandle::CONTENT_TYPE)],
                    m.render(),
                )
                    .into_response(),
                None => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    router
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/metrics", get(render))
}

/// `router` with `/health` and `/metrics`, every other request traced by
/// one [`ServerLayer`].
pub(crate) fn traced(router: Router, guard: &Guard) -> Router {
    let layer = ServerLayer::new()
        .guard(guard)
        .skip_paths(["/health", "/metrics"]);
    with_basics(router.layer(layer), guard)
}

/// Listens on `0.0.0.0:{PORT}` (`default` when `PORT` is unset).
pub async fn bind(default: u16) -> Result<TcpListener, crate::BoxError> {
    let port = crate::port(default)?;
    Ok(TcpListener::bind(("0.0.0.0", port)).await?)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A JSON error body.
pub(crate) fn error(status: axum::http::StatusCode, message: &str) -> axum::response::Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// What another service answered.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: axum::http::StatusCode,
    pub(crate) body: serde_json::Value,
}

impl IntoResponse for Reply {
    fn into_response(self) -> axum::response::Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Sends `request` (its route template names the CLIENT span) and reads a
/// JSON answer (`null` when the body is not JSON).
pub(crate) async fn call(
    request: reqwest_middleware::RequestBuilder,
    route: &'static str,
) -> Result<Reply, reqwest_middleware::Error> {
    let response = request
        .with_extension(o11y::http::ClientRoute(route))
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Ok(Reply { status, body })
}

/// `value` as a JSON request body.
pub(crate) fn json_body(
    request: reqwest_middleware::RequestBuilder,
    value: &impl Serialize,
) -> reqwest_middleware::RequestBuilder {
    request
        .header(CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(value).unwrap_or_default())
}

/// A producer that traces with `guard`'s providers.
pub(crate) fn producer(
    transport: o11y::queue::AnyTransport,
    guard: &Guard,
) -> o11y::queue::Producer<o11y::queue::AnyTransport> {
    o11y::queue::Producer::new(transport).with_guard(guard)
}
