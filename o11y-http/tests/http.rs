//! Real axum servers and a real hyper client on 127.0.0.1, spans captured in memory.

use std::{net::SocketAddr, time::Duration};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client as HyperClient, rt::TokioExecutor};
use o11y_core::testing::{Capture, Spans};
use o11y_http::{ClientLayer, ServerLayer};
use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider, data::AggregatedMetrics,
};
use tower::{ServiceBuilder, ServiceExt, timeout::TimeoutLayer, util::BoxCloneSyncService};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type HttpClient =
    BoxCloneSyncService<Request<Full<Bytes>>, http::Response<hyper::body::Incoming>, BoxError>;

const TID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn client(capture: &Capture, service: &str, timeout: Duration) -> HttpClient {
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let svc = ServiceBuilder::new()
        .layer(ClientLayer::new().tracer_provider(&capture.provider(service)))
        .layer(TimeoutLayer::new(timeout))
        .service(hyper.map_err(BoxError::from));
    BoxCloneSyncService::new(svc)
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn send(
    client: &HttpClient,
    url: String,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut req = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let resp = client.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// A plain hyper client with no instrumentation: the test's own "curl".
fn raw_client() -> HttpClient {
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    BoxCloneSyncService::new(hyper.map_err(BoxError::from))
}

/// A meter provider whose points can be read back from the exporter.
fn in_memory_meters() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (meters, exporter)
}

fn layer(capture: &Capture, service: &str) -> ServerLayer {
    ServerLayer::new().tracer_provider(&capture.provider(service))
}

async fn backend(capture: &Capture) -> SocketAddr {
    let router = Router::new()
        .route("/users/{id}", get(|| async { "ada" }))
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no") }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(
            layer(capture, "backend")
                .skip_paths(["/health"])
                .capture_request_headers([
                    http::header::AUTHORIZATION,
                    HeaderName::from_static("x-tenant"),
                    HeaderName::from_static("x-secret"),
                ])
                .redact([HeaderName::from_static("x-secret")]),
        );
    serve(router).await
}

/// A frontend whose `/call/{*rest}` calls `{next}/{rest}` with an instrumented client.
async fn frontend(
    capture: &Capture,
    name: &str,
    next: SocketAddr,
    timeout: Duration,
) -> SocketAddr {
    let http = client(capture, name, timeout);
    let router = Router::new()
        .route(
            "/call/{*rest}",
            get(
                |State((http, next)): State<(HttpClient, SocketAddr)>,
                 axum::extract::Path(rest): axum::extract::Path<String>| async move {
                    let req = Request::get(format!("http://{next}/{rest}"))
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    match http.oneshot(req).await {
                        Ok(resp) => {
                            let status = resp.status();
                            let body = resp
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            (status, String::from_utf8_lossy(&body).into_owned())
                        }
                        Err(e) => (StatusCode::GATEWAY_TIMEOUT, e.to_string()),
                    }
                },
            ),
        )
        .with_state((http, next))
        .layer(layer(capture, name));
    serve(router).await
}

fn server_spans<'a>(spans: &'a Spans, service: &str) -> Vec<&'a o11y_core::testing::CapturedSpan> {
    spans
        .iter()
        .filter(|s| s.service() == service && s.kind() == SpanKind::Server)
        .collect()
}

#[tokio::test]
async fn parent_and_child_across_two_services() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let front = frontend(&capture, "frontend", back, Duration::from_secs(5)).await;
    let (status, headers, body) =
        send(&raw_client(), format!("http://{front}/call/users/7"), &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ada"));
    let spans = capture.wait_for(3);
    let trace = spans.assert_single_trace();
    let front_span = spans.find("GET /call/{*rest}");
    let client_span = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    let back_span = spans.find("GET /users/{id}");
    assert_eq!(front_span.kind(), SpanKind::Server);
    assert_eq!(
        front_span.parent_id(),
        SpanId::INVALID,
        "no incoming context: a new root"
    );
    assert_eq!(client_span.parent_id(), front_span.span_id());
    assert_eq!(client_span.service(), "frontend");
    assert_eq!(back_span.parent_id(), client_span.span_id());
    assert_eq!(back_span.service(), "backend");
    assert_eq!(
        back_span.attr_str("http.route").as_deref(),
        Some("/users/{id}")
    );
    assert_eq!(back_span.attr_str("url.path").as_deref(), Some("/users/7"));
    assert_eq!(
        back_span.attr_str("http.request.method").as_deref(),
        Some("GET")
    );
    assert_eq!(
        back_span.attr_str("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        back_span.attr_str("server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        back_span.attr_str("network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(
        back_span.attr_str("client.address").as_deref(),
        Some("127.0.0.1"),
        "the connection's peer"
    );
    assert_eq!(
        client_span.attr_str("server.port").as_deref(),
        Some(back.port().to_string().as_str())
    );
    // One correlation id, made at the edge (the trace id), on every server
    // span and echoed.
    let id = headers["x-trace-id"].to_str().unwrap().to_owned();
    assert_eq!(id, trace.to_string(), "the edge's id is the trace id");
    assert_eq!(
        front_span.attr_str("correlation.id").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        back_span.attr_str("correlation.id").as_deref(),
        Some(id.as_str())
    );
    assert_ne!(trace.to_string(), "");
}

#[tokio::test]
async fn three_hops_one_trace_and_incoming_parent() {
    let capture = Capture::new();
    let c = backend(&capture).await;
    let b = frontend(&capture, "b", c, Duration::from_secs(5)).await;
    let a = frontend(&capture, "a", b, Duration::from_secs(5)).await;
    let tp = format!("00-{TID}-00f067aa0ba902b7-01");
    let (status, headers, _) = send(
        &raw_client(),
        format!("http://{a}/call/call/users/1"),
        &[("traceparent", &tp), ("x-trace-id", "order-42")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-trace-id"], "order-42");
    let spans = capture.wait_for(5);
    assert_eq!(spans.assert_single_trace().to_string(), TID);
    assert_eq!(
        server_spans(&spans, "a")[0].parent_id().to_string(),
        "00f067aa0ba902b7"
    );
    for s in spans.iter().filter(|s| s.kind() == SpanKind::Server) {
        assert_eq!(
            s.attr_str("correlation.id").as_deref(),
            Some("order-42"),
            "{}",
            s.name()
        );
    }
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.kind() == SpanKind::Client)
            .count(),
        2
    );
}

#[tokio::test]
async fn duplicated_traceparent_with_one_trace_id_is_cleaned() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let tp = format!("00-{TID}-00f067aa0ba902b7-01");
    let joined = format!("{tp},{tp}");
    for headers in [
        vec![("traceparent", tp.as_str()), ("traceparent", tp.as_str())],
        vec![("traceparent", joined.as_str())],
    ] {
        capture.clear();
        let (status, _, _) = send(&raw_client(), format!("http://{back}/users/1"), &headers).await;
        assert_eq!(status, StatusCode::OK);
        let spans = capture.wait_for(1);
        let span = spans.find("GET /users/{id}");
        assert_eq!(span.trace_id().to_string(), TID);
        let event = span
            .event("traceparent.cleaned")
            .expect("the cleaning is recorded");
        assert!(
            event
                .iter()
                .any(|kv| kv.key.as_str() == "traceparent.values" && kv.value.as_str() == "2")
        );
    }
}

#[tokio::test]
async fn conflicting_or_malformed_traceparent_starts_a_new_trace() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let other = format!("00-{}-00f067aa0ba902b7-01", "1".repeat(32));
    let tp = format!("00-{TID}-00f067aa0ba902b7-01");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("traceparent", tp.as_str()),
            ("traceparent", other.as_str()),
        ],
        vec![(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        )],
        vec![(
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
        vec![(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        )],
        vec![("traceparent", "garbage"), ("tracestate", "a=1,a=2")],
    ];
    for headers in cases {
        capture.clear();
        let (status, _, body) =
            send(&raw_client(), format!("http://{back}/users/1"), &headers).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "ada"),
            "{headers:?} is served normally"
        );
        let spans = capture.wait_for(1);
        let span = spans.find("GET /users/{id}");
        assert_ne!(span.trace_id().to_string(), TID, "{headers:?}");
        assert_eq!(span.parent_id(), SpanId::INVALID, "{headers:?}: a new root");
    }
}

#[tokio::test]
async fn hostile_correlation_ids_are_replaced() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let huge = "a".repeat(10 * 1024);
    for hostile in ["bad\"quote", "with space", "{json}", huge.as_str()] {
        capture.clear();
        let (status, headers, _) = send(
            &raw_client(),
            format!("http://{back}/users/1"),
            &[("x-trace-id", hostile)],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let echoed = headers["x-trace-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, hostile);
        let spans = capture.wait_for(1);
        let span = spans.find("GET /users/{id}");
        assert_eq!(
            echoed,
            span.trace_id().to_string(),
            "replaced by the trace id"
        );
        assert_eq!(span.attr_str("correlation.id"), Some(echoed));
    }
}

#[tokio::test]
async fn sensitive_headers_are_redacted() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let headers = [
        ("authorization", "Bearer secret-token"),
        ("x-tenant", "acme"),
        ("x-secret", "hunter2"),
    ];
    send(&raw_client(), format!("http://{back}/users/1"), &headers).await;
    let spans = capture.wait_for(1);
    let span = spans.find("GET /users/{id}");
    let attr = |k: &str| span.attr(k).map(|v| v.to_string()).unwrap_or_default();
    assert!(attr("http.request.header.x-tenant").contains("acme"));
    assert!(attr("http.request.header.authorization").contains("[REDACTED]"));
    assert!(attr("http.request.header.x-secret").contains("[REDACTED]"));
    let all: String = span
        .data
        .attributes
        .iter()
        .map(|kv| kv.value.to_string())
        .collect();
    assert!(
        !all.contains("secret-token") && !all.contains("hunter2"),
        "{all}"
    );
}

#[tokio::test]
async fn filtered_routes_make_no_spans() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let (status, _, _) = send(&raw_client(), format!("http://{back}/health"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    send(&raw_client(), format!("http://{back}/users/2"), &[]).await;
    // The traced request's span ends after the untraced one was served, so
    // once it is here the health check would have been too.
    let spans = capture.wait_for(1);
    assert_eq!(spans.len(), 1);
    spans.find("GET /users/{id}");
}

#[tokio::test]
async fn an_untrusted_caller_is_a_link_not_a_parent() {
    let capture = Capture::new();
    let router = Router::new()
        .route("/in", get(|| async { "hi" }))
        .layer(layer(&capture, "edge").trust(o11y_http::Trust::None));
    let addr = serve(router).await;
    let tp = format!("00-{TID}-00f067aa0ba902b7-01");
    let (_, headers, _) = send(
        &raw_client(),
        format!("http://{addr}/in"),
        &[("traceparent", &tp)],
    )
    .await;
    let spans = capture.wait_for(1);
    let span = spans.find("GET /in");
    assert_ne!(span.trace_id().to_string(), TID);
    assert_eq!(span.attr_str("url.path").as_deref(), Some("/in"));
    // The correlation id stays the caller's (its trace id) across the restart.
    assert_eq!(headers["x-trace-id"], TID);
    assert_eq!(span.attr_str("correlation.id").as_deref(), Some(TID));
    assert_eq!(span.parent_id(), SpanId::INVALID);
    let link = span
        .data
        .links
        .iter()
        .next()
        .expect("the caller's context is a link");
    assert_eq!(link.span_context.trace_id().to_string(), TID);
}

#[tokio::test]
async fn status_codes_map_to_span_status() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let front = frontend(&capture, "frontend", back, Duration::from_secs(5)).await;
    let (status, _, _) = send(&raw_client(), format!("http://{front}/call/fail"), &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let spans = capture.wait_for(3);
    let server = spans.find("GET /fail");
    assert!(server.is_error());
    assert_eq!(server.attr_str("error.type").as_deref(), Some("500"));
    let client = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    assert!(client.is_error(), "5xx is an error on the client span too");

    capture.clear();
    let (status, _, _) = send(&raw_client(), format!("http://{front}/call/missing"), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let spans = capture.wait_for(3);
    let server = spans.find("GET /missing");
    assert_eq!(*server.status(), Status::Unset, "4xx is not a server error");
    assert!(server.attr("error.type").is_none());
    let client = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    assert!(client.is_error(), "4xx is an error for the client");
    assert_eq!(client.attr_str("error.type").as_deref(), Some("404"));
}

#[tokio::test]
async fn client_timeout_is_recorded_as_an_error() {
    let capture = Capture::new();
    let back = backend(&capture).await;
    let front = frontend(&capture, "frontend", back, Duration::from_millis(100)).await;
    let (status, _, _) = send(&raw_client(), format!("http://{front}/call/slow"), &[]).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let spans = capture.wait_until(Duration::from_secs(10), |s| {
        s.iter().any(|s| s.kind() == SpanKind::Client)
    });
    let client = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    assert!(client.is_error());
    assert_eq!(client.attr_str("error.type").as_deref(), Some("timeout"));
}

#[tokio::test]
async fn server_metrics_are_recorded() {
    let (meters, exporter) = in_memory_meters();
    let capture = Capture::new();
    let router = Router::new()
        .route("/items/{id}", get(|| async { "x" }))
        .layer(
            layer(&capture, "svc")
                .meter_provider(&meters)
                .record_body_sizes(true),
        );
    let addr = serve(router).await;
    for i in 0..3 {
        send(&raw_client(), format!("http://{addr}/items/{i}"), &[]).await;
    }
    capture.wait_for(3);
    meters.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let mut count = None;
    let mut active = None;
    let mut response_bytes = None;
    for rm in &metrics {
        for scope in rm.scope_metrics() {
            for m in scope.metrics() {
                match (m.name(), m.data()) {
                    (
                        "http.server.request.duration",
                        AggregatedMetrics::F64(
                            opentelemetry_sdk::metrics::data::MetricData::Histogram(h),
                        ),
                    ) => {
                        let p = h.data_points().next().unwrap();
                        let attrs: Vec<String> = p
                            .attributes()
                            .map(|kv| format!("{}={}", kv.key, kv.value))
                            .collect();
                        assert!(
                            attrs.contains(&"http.route=/items/{id}".to_owned()),
                            "{attrs:?}"
                        );
                        assert!(
                            attrs.contains(&"http.response.status_code=200".to_owned()),
                            "{attrs:?}"
                        );
                        assert!(
                            !attrs.iter().any(|a| a.starts_with("url.path")),
                            "no high-cardinality attributes"
                        );
                        assert_eq!(p.bounds().count(), 14);
                        count = Some(p.count());
                    }
                    (
                        "http.server.response.body.size",
                        AggregatedMetrics::U64(
                            opentelemetry_sdk::metrics::data::MetricData::Histogram(h),
                        ),
                    ) => {
                        let p = h.data_points().next().unwrap();
                        response_bytes = Some((p.count(), p.sum()));
                    }
                    (
                        "http.server.active_requests",
                        AggregatedMetrics::I64(opentelemetry_sdk::metrics::data::MetricData::Sum(
                            s,
                        )),
                    ) => {
                        active = Some(s.data_points().map(|p| p.value()).sum::<i64>());
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(count, Some(3));
    assert_eq!(active, Some(0), "every request finished");
    assert_eq!(response_bytes, Some((3, 3)), "three one-byte bodies");
}

#[tokio::test]
async fn a_panicking_handler_is_recorded_as_an_error() {
    let capture = Capture::new();
    let svc = tower::ServiceBuilder::new()
        .layer(layer(&capture, "svc"))
        .service(tower::service_fn(|_req: Request<Full<Bytes>>| async move {
            if true {
                panic!("handler exploded");
            }
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
        }));
    let req = Request::get("http://svc.local/boom")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let joined = tokio::spawn(svc.oneshot(req)).await;
    assert!(
        joined.unwrap_err().is_panic(),
        "the panic goes on to the server, as without the layer"
    );
    let spans = capture.wait_for(1);
    let span = spans.find("GET");
    assert!(span.is_error());
    assert_eq!(span.attr_str("error.type").as_deref(), Some("panic"));
    let event = span.event("exception").expect("an exception event");
    assert!(event.iter().any(
        |kv| kv.key.as_str() == "exception.message" && kv.value.as_str() == "handler exploded"
    ));
}

#[tokio::test]
async fn traceresponse_route_fn_and_query_options() {
    let capture = Capture::new();
    let router = Router::new()
        .route("/search", get(|| async { "found" }))
        .layer(
            layer(&capture, "svc")
                .traceresponse(true)
                .record_query(true)
                .route_fn(|parts| {
                    (parts.uri.path() == "/search").then(|| "/search (custom)".to_owned())
                }),
        );
    let addr = serve(router).await;
    let (_, headers, _) = send(&raw_client(), format!("http://{addr}/search?q=rust"), &[]).await;
    let spans = capture.wait_for(1);
    let span = spans.find("GET /search (custom)");
    assert_eq!(span.attr_str("url.query").as_deref(), Some("q=rust"));
    // A trace this server started: sampled (01) and with a random id (02).
    let traceresponse = headers["traceresponse"].to_str().unwrap();
    assert_eq!(
        traceresponse,
        format!("00-{}-{}-03", span.trace_id(), span.span_id())
    );
    // A caller's trace keeps the caller's flags (no `random` claimed for it).
    let caller = format!("00-{TID}-00f067aa0ba902b7-01");
    let (_, headers, _) = send(
        &raw_client(),
        format!("http://{addr}/search"),
        &[("traceparent", &caller)],
    )
    .await;
    let traceresponse = headers["traceresponse"].to_str().unwrap();
    assert!(
        traceresponse.starts_with(&format!("00-{TID}-")) && traceresponse.ends_with("-01"),
        "{traceresponse}"
    );
}

fn last_active(meters: &SdkMeterProvider, exporter: &InMemoryMetricExporter) -> Option<i64> {
    meters.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let last = metrics.last()?;
    last.scope_metrics()
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == "http.server.active_requests")
        .and_then(|m| match m.data() {
            AggregatedMetrics::I64(opentelemetry_sdk::metrics::data::MetricData::Sum(s)) => {
                Some(s.data_points().map(|p| p.value()).sum())
            }
            _ => None,
        })
}

#[tokio::test]
async fn a_cancelled_request_leaves_the_active_count() {
    use std::{future::Future, task::Poll};
    use tower::Service;
    let (meters, exporter) = in_memory_meters();
    let capture = Capture::new();
    let mut svc = tower::ServiceBuilder::new()
        .layer(layer(&capture, "svc").meter_provider(&meters))
        .service(tower::service_fn(|_req: Request<Full<Bytes>>| {
            std::future::pending::<Result<http::Response<Full<Bytes>>, std::convert::Infallible>>()
        }));
    let req = Request::get("http://svc.local/slow")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut fut = Box::pin(svc.call(req));
    let pending = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await;
    assert!(pending);
    assert_eq!(last_active(&meters, &exporter), Some(1));
    drop(fut); // the client went away
    assert_eq!(last_active(&meters, &exporter), Some(0));
    let spans = capture.wait_for(1);
    assert_eq!(spans.len(), 1, "the span ends when the request is dropped");
}

/// A service that does its work in `call` itself, before any future exists
/// (its future is ready at once).
#[derive(Clone)]
struct InCall<F>(F);

impl<F> tower::Service<Request<Full<Bytes>>> for InCall<F>
where
    F: FnMut() -> http::Response<Full<Bytes>>,
{
    type Response = http::Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _req: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok((self.0)()))
    }
}

/// A service whose `call` itself panics (before any future exists) leaves no
/// request counted as active.
#[tokio::test]
async fn a_panicking_call_leaves_no_active_count() {
    use tower::Service;
    let (meters, exporter) = in_memory_meters();
    let capture = Capture::new();
    let mut svc = tower::ServiceBuilder::new()
        .layer(layer(&capture, "svc").meter_provider(&meters))
        .service(InCall(|| -> http::Response<Full<Bytes>> {
            panic!("call exploded")
        }));
    let req = Request::get("http://svc.local/boom")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(svc.call(req));
    }));
    assert!(panicked.is_err(), "the panic goes on, as without the layer");
    assert_eq!(last_active(&meters, &exporter).unwrap_or(0), 0);
}

/// A service that does its work in `call` (not in its future) runs it in
/// the request's span, as it does in its future. (Only axum's `Route`, whose
/// `call` runs nothing, is called without the span's context.)
#[tokio::test]
async fn an_inner_call_runs_in_the_span() {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TraceContextExt as _;
    use tower::Service;
    let capture = Capture::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let mut svc = ServiceBuilder::new()
        .layer(layer(&capture, "svc"))
        .service(InCall(move || {
            let id = opentelemetry::Context::current()
                .span()
                .span_context()
                .span_id();
            recorded.lock().unwrap().push(id);
            http::Response::new(Full::new(Bytes::new()))
        }));
    let req = Request::get("http://svc.local/now")
        .body(Full::new(Bytes::new()))
        .unwrap();
    svc.call(req).await.unwrap();
    let spans = capture.wait_for(1);
    let server = spans.iter().next().expect("the server span");
    assert_eq!(*seen.lock().unwrap(), [server.span_id()]);
}

/// Telemetry that o11y built (a guard, not installed): the layer uses its
/// provider and sampler. Over many new traces at 50 %, the dropped requests
/// still run in a span identity of their own (a new trace, echoed, not
/// sampled) and the others are exported with the ids their handlers saw; an
/// unsampled caller's request stays in the caller's trace.
#[tokio::test]
async fn guard_telemetry_drops_and_records_as_its_sampler_says() {
    use std::collections::HashSet;

    use http_body_util::BodyExt as _;
    use o11y_core::{config::ExporterKind, sampler::SamplerConfig};
    use opentelemetry::trace::TraceContextExt as _;
    use tower::Service;
    let capture = Capture::new();
    let guard = o11y_core::builder("svc")
        .env_lookup(|_| None)
        .traces_exporter(ExporterKind::None)
        .metrics_exporter(ExporterKind::None)
        .logs_exporter(ExporterKind::None)
        .install_subscriber(false)
        .sampler(SamplerConfig::ParentBased(Box::new(
            SamplerConfig::TraceIdRatio(0.5),
        )))
        .with_span_processor(capture.processor())
        .build()
        .unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(ServerLayer::new().guard(&guard))
        .service(tower::service_fn(|_req: Request<Full<Bytes>>| async {
            let cx = opentelemetry::Context::current();
            let span = cx.span();
            let sc = span.span_context();
            let seen = format!("{}-{}-{}", sc.trace_id(), sc.span_id(), sc.is_sampled());
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(seen))))
        }));
    let mut call = async |traceparent: Option<&str>| {
        let mut req = Request::get("http://svc.local/x");
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp);
        }
        let req = req.body(Full::new(Bytes::new())).unwrap();
        let resp = svc.call(req).await.unwrap();
        let echoed = resp.headers()["x-trace-id"].to_str().unwrap().to_owned();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let seen = String::from_utf8(body.to_vec()).unwrap();
        let parts: Vec<String> = seen.split('-').map(str::to_owned).collect();
        assert_eq!(parts[0], echoed, "the handler runs in the trace echoed");
        assert_ne!(
            parts[1],
            SpanId::INVALID.to_string(),
            "in a span of its own"
        );
        (echoed, parts[1].clone(), parts[2] == "true")
    };
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen.push(call(None).await);
    }
    let sampled: Vec<_> = seen.iter().filter(|(_, _, sampled)| *sampled).collect();
    let spans = capture.wait_for(sampled.len());
    assert_eq!(
        spans.len(),
        sampled.len(),
        "exactly the sampled are exported"
    );
    for (trace, span, _) in &sampled {
        assert!(
            spans
                .iter()
                .any(|s| s.trace_id().to_string() == *trace && s.span_id().to_string() == *span),
            "the span the handler saw is the one exported"
        );
    }
    // The correlation id of a new trace is that trace's id.
    for s in spans.iter() {
        let attr = |key: &str| s.attr_str(key);
        assert_eq!(attr("correlation.id"), Some(s.trace_id().to_string()));
        assert_eq!(attr("http.request.method").as_deref(), Some("GET"));
        assert_eq!(attr("url.path").as_deref(), Some("/x"));
        assert_eq!(attr("server.address").as_deref(), Some("svc.local"));
        assert_eq!(attr("http.response.status_code").as_deref(), Some("200"));
        assert!(s.duration() < std::time::Duration::from_secs(60));
    }
    assert!(
        (60..=140).contains(&sampled.len()),
        "{} of 200",
        sampled.len()
    );
    let traces: HashSet<&String> = seen.iter().map(|(t, _, _)| t).collect();
    assert_eq!(traces.len(), 200, "a new trace each");
    // An unsampled caller: its trace, a span of our own, nothing exported.
    let parent = "00f067aa0ba902b7";
    let (trace, span, sampled_now) = call(Some(&format!("00-{TID}-{parent}-00"))).await;
    assert_eq!((trace.as_str(), sampled_now), (TID, false));
    assert_ne!(span, parent);
    assert_eq!(capture.spans().len(), sampled.len());
}

/// An unsampled caller: nothing is recorded, yet the handler runs inside a
/// span of its own (a new span id in the caller's trace, not sampled), which
/// is what its outbound calls and logs carry on.
#[tokio::test]
async fn unsampled_requests_still_have_a_span_identity() {
    use opentelemetry::trace::TraceContextExt as _;
    let capture = Capture::new();
    let router = Router::new()
        .route(
            "/who",
            get(|| async {
                let cx = opentelemetry::Context::current();
                let span = cx.span();
                let sc = span.span_context();
                format!(
                    "{}-{}-{}-{}",
                    sc.trace_id(),
                    sc.span_id(),
                    sc.is_sampled(),
                    span.is_recording()
                )
            }),
        )
        .layer(layer(&capture, "svc"));
    let addr = serve(router).await;
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{TID}-{parent}-00");
    let (status, headers, body) = send(
        &raw_client(),
        format!("http://{addr}/who"),
        &[("traceparent", &traceparent)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-trace-id"], TID, "the trace id echoed");
    let parts: Vec<&str> = body.split('-').collect();
    assert_eq!(parts[0], TID, "the caller's trace");
    assert_ne!(parts[1], parent, "a span id of its own");
    assert_ne!(parts[1], SpanId::INVALID.to_string());
    assert_eq!(
        &parts[2..],
        ["false", "false"],
        "not sampled, not recording"
    );
    assert!(capture.spans().is_empty(), "nothing exported");
}

#[tokio::test]
async fn without_a_tracer_the_correlation_id_is_still_made_and_echoed() {
    let noop = opentelemetry::trace::noop::NoopTracerProvider::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let router = Router::new()
        .route(
            "/in",
            get(move || {
                let record = record.clone();
                async move {
                    let id = o11y_core::current_correlation_id().map(|id| id.to_string());
                    record.lock().unwrap().push(id);
                    "hi"
                }
            }),
        )
        .layer(ServerLayer::new().tracer_provider(&noop));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let resp = router
            .clone()
            .oneshot(Request::get("/in").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        ids.push(resp.headers()["x-trace-id"].to_str().unwrap().to_owned());
    }
    assert_eq!(ids[0].len(), 32);
    assert_ne!(ids[0], ids[1], "one id per request");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![Some(ids[0].clone()), Some(ids[1].clone())],
        "the handler sees it"
    );
}

#[tokio::test]
async fn span_times_are_wall_clock_times_of_the_request() {
    // The SDK's timestamps, within the request as the client saw it, for a
    // span following a caller and for a root span alike.
    let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for (headers, parent) in [(vec![("traceparent", caller)], true), (vec![], false)] {
        let capture = Capture::new();
        let back = backend(&capture).await;
        let before = std::time::SystemTime::now();
        send(&raw_client(), format!("http://{back}/users/1"), &headers).await;
        let after = std::time::SystemTime::now();
        let spans = capture.wait_for(1);
        let span = spans.find("GET /users/{id}");
        assert_eq!(span.parent_id() != SpanId::INVALID, parent);
        let slack = Duration::from_millis(20);
        assert!(
            span.data.start_time + slack >= before,
            "{:?} vs {before:?}",
            span.data.start_time
        );
        assert!(
            span.data.end_time <= after + slack,
            "{:?} vs {after:?}",
            span.data.end_time
        );
        assert!(span.data.end_time > span.data.start_time);
    }
}
