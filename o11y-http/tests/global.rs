//! `ServerLayer::new()` changes nothing global and binds to no provider
//! when it is made: the global providers are read at the first request, so
//! a layer made before they are installed uses them. Alone in its binary,
//! as it installs global providers.

mod support;

use axum::{Router, body::Body, routing::get};
use http_body_util::BodyExt;
use o11y_core::testing::Capture;
use o11y_http::ServerLayer;
use support::{in_memory_meters, last_histogram};
use tower::ServiceExt;

#[tokio::test]
async fn a_layer_made_before_the_global_providers_uses_them() {
    let app = Router::new()
        .route("/x", get(|| async { "x" }))
        .layer(ServerLayer::new());
    let capture = Capture::new();
    let (meters, exporter) = in_memory_meters();
    opentelemetry::global::set_tracer_provider(capture.provider("svc"));
    opentelemetry::global::set_meter_provider(meters.clone());
    let req = http::Request::get("/x").body(Body::empty()).unwrap();
    let resp = app.oneshot(req).await.unwrap();
    resp.into_body().collect().await.unwrap();
    let spans = capture.wait_for(1);
    assert_eq!(
        spans.find("GET /x").attr_str("http.route").as_deref(),
        Some("/x")
    );
    meters.force_flush().unwrap();
    let durations = last_histogram(&exporter, "http.server.request.duration");
    assert_eq!(durations.map(|(count, _)| count), Some(1));
}
