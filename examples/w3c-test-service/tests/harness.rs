//! Drives the service the way the W3C harness does: a callback server records
//! the headers of each call it receives.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use http::HeaderMap;
use o11y::{
    http::{ClientLayer, ServerLayer},
    propagation::Traceparent,
    testing::Capture,
};

#[derive(Clone, Default)]
struct Harness {
    calls: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn harness() -> (Harness, SocketAddr) {
    let h = Harness::default();
    let router = Router::new()
        .route(
            "/callback/{id}",
            post(
                |State(h): State<Harness>,
                 axum::extract::Path(id): axum::extract::Path<String>,
                 headers: HeaderMap,
                 _body: Bytes| async move {
                    h.calls.lock().unwrap().push((id, headers));
                    "ok"
                },
            ),
        )
        .with_state(h.clone());
    let addr = serve(router).await;
    (h, addr)
}

async fn service(capture: &Capture) -> SocketAddr {
    let provider = capture.provider("w3c-test-service");
    serve(w3c_test_service::router(
        ServerLayer::new().tracer_provider(&provider),
        ClientLayer::new().tracer_provider(&provider),
    ))
    .await
}

async fn post_json(url: String, body: String, headers: &[(&str, &str)]) -> u16 {
    use http_body_util::Full;
    use hyper_util::{client::legacy::Client, rt::TokioExecutor};
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let mut req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    client.request(req).await.unwrap().status().as_u16()
}

fn traceparent(headers: &HeaderMap) -> Traceparent {
    let values: Vec<_> = headers.get_all("traceparent").iter().collect();
    assert_eq!(values.len(), 1, "exactly one traceparent header");
    Traceparent::parse(values[0].to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn callbacks_share_the_trace_with_distinct_parents() {
    let capture = Capture::new();
    let (h, harness_addr) = harness().await;
    let svc = service(&capture).await;
    let calls: Vec<String> = (0..3)
        .map(|i| format!(r#"{{"url":"http://{harness_addr}/callback/{i}","arguments":[]}}"#))
        .collect();
    let body = format!("[{}]", calls.join(","));
    let tp = "00-12345678901234567890123456789012-1234567890123456-01";
    assert_eq!(
        post_json(
            format!("http://{svc}/test"),
            body,
            &[("traceparent", tp), ("tracestate", "foo=1,bar=2")]
        )
        .await,
        200
    );
    let calls = h.calls.lock().unwrap().clone();
    assert_eq!(
        calls.len(),
        3,
        "each instruction is called back before the service answers"
    );
    let parsed: Vec<Traceparent> = calls
        .iter()
        .map(|(_, headers)| traceparent(headers))
        .collect();
    assert!(
        parsed
            .iter()
            .all(|tp| tp.trace_id().to_string() == "12345678901234567890123456789012")
    );
    let parents: std::collections::HashSet<_> = parsed.iter().map(|tp| tp.span_id()).collect();
    assert_eq!(parents.len(), 3, "a distinct CLIENT span per call");
    for (_, headers) in &calls {
        assert_eq!(
            headers["tracestate"], "foo=1,bar=2",
            "tracestate is carried on"
        );
    }
}

#[tokio::test]
async fn nested_instructions_go_through_the_service_twice() {
    let capture = Capture::new();
    let (h, harness_addr) = harness().await;
    let svc = service(&capture).await;
    // The service calls itself, and that second hop calls the harness back.
    let body = format!(
        r#"[{{"url":"http://{svc}/test","arguments":[{{"url":"http://{harness_addr}/callback/inner","arguments":[]}}]}}]"#
    );
    assert_eq!(
        post_json(format!("http://{svc}/test"), body, &[]).await,
        200
    );
    let calls = h.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let spans = capture.wait_for(4);
    let trace = spans.assert_single_trace();
    assert_eq!(traceparent(&calls[0].1).trace_id(), trace);
    assert_eq!(
        spans.named("POST /test").len(),
        2,
        "two SERVER spans of the service in one trace"
    );
}

#[tokio::test]
async fn invalid_or_duplicated_traceparent_restarts_the_trace() {
    let capture = Capture::new();
    let (h, harness_addr) = harness().await;
    let svc = service(&capture).await;
    let body = format!(r#"[{{"url":"http://{harness_addr}/callback/x","arguments":[]}}]"#);
    let dup = [
        (
            "traceparent",
            "00-12345678901234567890123456789011-1234567890123456-01",
        ),
        (
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-01",
        ),
    ];
    assert_eq!(
        post_json(format!("http://{svc}/test"), body.clone(), &dup).await,
        200
    );
    assert_eq!(
        post_json(
            format!("http://{svc}/test"),
            body,
            &[(
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01."
            )]
        )
        .await,
        200
    );
    let calls = h.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    for (_, headers) in &calls {
        let id = traceparent(headers).trace_id().to_string();
        assert!(!id.starts_with("1234567890123456789012345678901"), "{id}");
    }
}
