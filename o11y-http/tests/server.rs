//! The server layer's span and metrics over a request's whole life: real
//! axum servers on 127.0.0.1, spans and metrics captured in memory.

mod support;

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{Router, body::Body, response::Response, routing::get};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use o11y_core::testing::Capture;
use o11y_http::ServerLayer;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};
use support::{client, get as request, in_memory_meters, last_histogram, last_sum, serve};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt;

const DURATION: &str = "http.server.request.duration";
const ACTIVE: &str = "http.server.active_requests";

/// A response body sending `chunks` chunks, one every `every`, then ending,
/// or failing with "disk gone" when `fail`.
struct Trickle {
    chunks: u32,
    every: Duration,
    fail: bool,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Trickle {
    fn response(chunks: u32, every: Duration, fail: bool) -> Response {
        let body = Self {
            chunks,
            every,
            fail,
            sleep: None,
        };
        Response::new(Body::new(body))
    }
}

impl http_body::Body for Trickle {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.chunks == 0 {
            let fail = std::mem::take(&mut this.fail);
            return Poll::Ready(fail.then(|| Err(io::Error::other("disk gone"))));
        }
        let every = this.every;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        ready!(sleep.as_mut().poll(cx));
        this.sleep = None;
        this.chunks -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"tick\n")))))
    }
}

/// A handler streaming its body for 200 ms: its span and its
/// `http.server.request.duration` last at least those 200 ms, as the span
/// ends with the body, not with the response's head.
#[tokio::test]
async fn a_streamed_body_is_inside_its_span_and_duration() {
    let capture = Capture::new();
    let (meters, exporter) = in_memory_meters();
    let router = Router::new()
        .route(
            "/stream",
            get(|| async { Trickle::response(4, Duration::from_millis(50), false) }),
        )
        .layer(
            ServerLayer::new()
                .tracer_provider(&capture.provider("svc"))
                .meter_provider(&meters),
        );
    let addr = serve(router).await;
    let resp = client()
        .request(request(format!("http://{addr}/stream")))
        .await
        .unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "tick\n".repeat(4));
    let spans = capture.wait_for(1);
    let span = spans.find("GET /stream");
    assert!(!span.is_error());
    assert!(span.duration() >= Duration::from_millis(200), "{span:?}");
    meters.force_flush().unwrap();
    let (count, seconds) = last_histogram(&exporter, DURATION).unwrap();
    assert_eq!(count, 1);
    assert!(seconds >= 0.2, "{seconds}");
}

/// A body that fails half-way ends the span with the error on it.
#[tokio::test]
async fn a_body_error_is_recorded_on_the_span() {
    let capture = Capture::new();
    let router = Router::new()
        .route(
            "/broken",
            get(|| async { Trickle::response(1, Duration::from_millis(1), true) }),
        )
        .layer(ServerLayer::new().tracer_provider(&capture.provider("svc")));
    let addr = serve(router).await;
    let resp = client()
        .request(request(format!("http://{addr}/broken")))
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the head was sent before the body failed"
    );
    assert!(resp.into_body().collect().await.is_err(), "the body is cut");
    let spans = capture.wait_for(1);
    let span = spans.find("GET /broken");
    assert!(span.is_error());
    assert!(span.attr_str("error.type").is_some());
    let event = span.event("exception").expect("an exception event");
    let message = event
        .iter()
        .find(|kv| kv.key.as_str() == "exception.message")
        .map(|kv| kv.value.to_string());
    assert_eq!(message.as_deref(), Some("disk gone"));
}

/// A public and an admin router in one process, each with its own layer on
/// one meter provider: `http.server.active_requests` is the sum of both.
#[tokio::test]
async fn two_server_layers_on_one_meter_provider_sum_their_active_requests() {
    let (meters, exporter) = in_memory_meters();
    let (release, released) = watch::channel(false);
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let handler = move || {
        let (entered_tx, mut released) = (entered_tx.clone(), released.clone());
        async move {
            entered_tx.send(()).unwrap();
            released.wait_for(|r| *r).await.unwrap();
            "done"
        }
    };
    let layer = || ServerLayer::new().meter_provider(&meters);
    let public = serve(
        Router::new()
            .route("/p", get(handler.clone()))
            .layer(layer()),
    )
    .await;
    let admin = serve(Router::new().route("/a", get(handler)).layer(layer())).await;
    let urls = [public, public, admin, admin, admin].map(|addr| {
        let path = if addr == public { "p" } else { "a" };
        format!("http://{addr}/{path}")
    });
    let requests: Vec<_> = urls
        .into_iter()
        .map(|url| tokio::spawn(client().request(request(url))))
        .collect();
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(10), entered.recv())
            .await
            .expect("every handler entered in time");
    }
    meters.force_flush().unwrap();
    assert_eq!(last_sum(&exporter, ACTIVE), Some(5), "2 public + 3 admin");
    release.send(true).unwrap();
    for r in requests {
        let resp = r.await.unwrap().unwrap();
        resp.into_body().collect().await.unwrap();
    }
    meters.force_flush().unwrap();
    assert_eq!(last_sum(&exporter, ACTIVE), Some(0));
    assert_eq!(last_histogram(&exporter, DURATION).map(|h| h.0), Some(5));
}

/// `let _guard = o11y::init(..)?; axum::serve(..).await`: the router goes
/// first, then the guard; the last requests' durations are exported.
#[tokio::test]
async fn durations_reach_the_exporter_when_the_router_is_dropped_before_the_guard() {
    let exporter = InMemoryMetricExporter::default();
    let reader = PeriodicReader::builder(exporter.clone()).build();
    let guard = o11y_core::builder("svc")
        .env_lookup(|_| None)
        .traces_exporter(o11y_core::config::ExporterKind::None)
        .metrics_exporter(o11y_core::config::ExporterKind::None)
        .logs_exporter(o11y_core::config::ExporterKind::None)
        .install_subscriber(false)
        .configure_metrics(move |b| b.with_reader(reader))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/x", get(|| async { "x" }))
        .layer(ServerLayer::new().guard(&guard));
    let worker = tokio::spawn(async move {
        for _ in 0..7 {
            let req = http::Request::get("/x").body(Body::empty()).unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            resp.into_body().collect().await.unwrap();
        }
        drop(app);
    });
    worker.await.unwrap();
    drop(guard);
    assert_eq!(last_histogram(&exporter, DURATION).map(|h| h.0), Some(7));
}

/// `filter` and `skip_paths` both apply, in either order.
#[tokio::test]
async fn filter_and_skip_paths_both_apply() {
    let capture = Capture::new();
    let not_internal = |p: &http::request::Parts| !p.uri.path().starts_with("/internal");
    let layers = [
        ServerLayer::new()
            .skip_paths(["/health"])
            .filter(not_internal),
        ServerLayer::new()
            .filter(not_internal)
            .skip_paths(["/health"]),
    ];
    for layer in layers {
        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/internal/stats", get(|| async { "{}" }))
            .route("/users/{id}", get(|| async { "ada" }))
            .layer(layer.tracer_provider(&capture.provider("svc")));
        let addr = serve(router).await;
        for path in ["health", "internal/stats", "users/1"] {
            let resp = client()
                .request(request(format!("http://{addr}/{path}")))
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.into_body().collect().await.unwrap();
        }
    }
    let spans = capture.wait_for(2);
    let names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["GET /users/{id}", "GET /users/{id}"]);
}
