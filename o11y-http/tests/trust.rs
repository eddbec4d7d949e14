//! Trust at the edge, secrets kept out of spans, and what a client sends to
//! other hosts: real axum servers and a real hyper client on 127.0.0.1.

mod support;

use std::net::SocketAddr;

use axum::{Router, routing::get};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request};
use http_body_util::{BodyExt, Full};
use o11y_core::{propagation::Traceparent, testing::Capture};
use o11y_http::{ClientLayer, ServerLayer, Trust};
use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    context::FutureExt,
    trace::{SpanId, TraceContextExt, TraceId, Tracer as _, TracerProvider as _},
};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use support::{client, serve};
use tower::{ServiceBuilder, ServiceExt};

const TID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const FORCED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A provider that samples nothing of its own accord: only a trusted
/// caller's sampled flag can make a span sampled.
fn sample_nothing(capture: &Capture) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .with_span_processor(capture.processor())
        .build()
}

/// Serves a route that answers the baggage it sees, behind `layer`.
async fn edge(layer: ServerLayer) -> SocketAddr {
    let router = Router::new()
        .route(
            "/in",
            get(|| async {
                let cx = Context::current();
                let user = cx.baggage().get("user").map(|v| v.as_str().to_owned());
                user.unwrap_or_default()
            }),
        )
        .layer(layer.traceresponse(true));
    serve(router).await
}

async fn call(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (HeaderMap, String) {
    let mut req = Request::get(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let resp = client().request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.headers, String::from_utf8_lossy(&body).into_owned())
}

fn traceresponse(headers: &HeaderMap) -> Traceparent {
    Traceparent::parse(headers["traceresponse"].to_str().unwrap()).unwrap()
}

const CALLER: [(&str, &str); 2] = [("traceparent", FORCED), ("baggage", "user=mallory")];

#[tokio::test]
async fn a_trusted_caller_decides_sampling_and_brings_baggage() {
    let capture = Capture::new();
    let addr = edge(ServerLayer::new().tracer_provider(&sample_nothing(&capture))).await;
    let (headers, body) = call(addr, "/in", &CALLER).await;
    let tr = traceresponse(&headers);
    assert_eq!(tr.trace_id().to_string(), TID);
    assert!(tr.flags().is_sampled(), "the caller's flag is followed");
    assert_eq!(body, "mallory");
}

#[tokio::test]
async fn an_untrusted_caller_cannot_force_sampling_or_send_baggage() {
    let capture = Capture::new();
    let layer = ServerLayer::new()
        .tracer_provider(&sample_nothing(&capture))
        .trust(Trust::None);
    let addr = edge(layer).await;
    let (headers, body) = call(addr, "/in", &CALLER).await;
    let tr = traceresponse(&headers);
    assert_ne!(tr.trace_id().to_string(), TID, "a new trace");
    assert!(
        !tr.flags().is_sampled(),
        "our sampler decided, not the caller"
    );
    assert_eq!(
        tr.flags().to_u8() & 0x02,
        0x02,
        "a new trace's id is random"
    );
    assert_eq!(body, "", "the caller's baggage is dropped");
}

#[tokio::test]
async fn trust_by_network_uses_the_connection_peer() {
    for (networks, trusted) in [(["127.0.0.0/8"], true), (["10.0.0.0/8"], false)] {
        let capture = Capture::new();
        let layer = ServerLayer::new()
            .tracer_provider(&sample_nothing(&capture))
            .trust(Trust::networks(networks).unwrap());
        let addr = edge(layer).await;
        let (headers, body) = call(addr, "/in", &CALLER).await;
        assert_eq!(
            traceresponse(&headers).trace_id().to_string() == TID,
            trusted
        );
        assert_eq!(body == "mallory", trusted, "{networks:?}");
    }
}

#[tokio::test]
async fn trust_by_a_header_the_proxy_sets() {
    let capture = Capture::new();
    let layer = ServerLayer::new()
        .tracer_provider(&sample_nothing(&capture))
        .trust(Trust::Header(HeaderName::from_static("x-from-edge")));
    let addr = edge(layer).await;
    let (headers, _) = call(addr, "/in", &CALLER).await;
    assert_ne!(traceresponse(&headers).trace_id().to_string(), TID);
    let vouched = [CALLER[0], CALLER[1], ("x-from-edge", "1")];
    let (headers, body) = call(addr, "/in", &vouched).await;
    assert_eq!(traceresponse(&headers).trace_id().to_string(), TID);
    assert_eq!(body, "mallory");
}

/// The SERVER span of one request to `layer`, sent with `headers`.
async fn span_of(
    layer: ServerLayer,
    capture: &Capture,
    path: &str,
    headers: &[(&str, &str)],
) -> o11y_core::testing::CapturedSpan {
    let addr = edge(layer.tracer_provider(&capture.provider("edge"))).await;
    call(addr, path, headers).await;
    capture.wait_for(1).roots()[0].clone()
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_callers() {
    let forwarded = [("x-forwarded-for", "203.0.113.7")];
    let capture = Capture::new();
    let span = span_of(ServerLayer::new(), &capture, "/in", &forwarded).await;
    assert_eq!(
        span.attr_str("client.address").as_deref(),
        Some("203.0.113.7")
    );
    let capture = Capture::new();
    let span = span_of(
        ServerLayer::new().trust(Trust::None),
        &capture,
        "/in",
        &forwarded,
    )
    .await;
    assert_eq!(
        span.attr_str("client.address").as_deref(),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn secrets_in_headers_queries_and_paths_are_not_recorded() {
    let capture = Capture::new();
    let layer = ServerLayer::new()
        .capture_request_headers([
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-service-token"),
            HeaderName::from_static("x-tenant"),
            HeaderName::from_static("x-pin"),
        ])
        .redact([HeaderName::from_static("x-pin")])
        .record_query(true)
        .redact_query_params(["pin"]);
    let path = "/in;jsessionid=S3SS10N?X-Amz-Signature=s1g&token=t0k&code=c0de&pin=1234&page=2";
    let headers = [
        ("x-api-key", "k3y"),
        ("x-service-token", "t0k3n"),
        ("x-tenant", "acme"),
        ("x-pin", "1234"),
    ];
    let span = span_of(layer, &capture, path, &headers).await;
    let text = format!("{:?}", span.data.attributes);
    for secret in ["k3y", "t0k3n", "1234", "s1g", "t0k", "c0de", "S3SS10N"] {
        assert!(!text.contains(secret), "{secret} recorded: {text}");
    }
    assert_eq!(span.attr_str("url.path").as_deref(), Some("/in"));
    assert_eq!(
        span.attr_str("url.query").as_deref(),
        Some("X-Amz-Signature=REDACTED&token=REDACTED&code=REDACTED&pin=REDACTED&page=2")
    );
    assert!(
        text.contains("acme"),
        "an ordinary header is recorded: {text}"
    );
}

/// A callee with no instrumentation that answers the headers it got.
async fn echo() -> SocketAddr {
    let router = Router::new().route(
        "/echo",
        get(|headers: HeaderMap| async move {
            let get = |name: &str| {
                headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            format!("{}|{}", get("traceparent"), get("baggage"))
        }),
    );
    serve(router).await
}

/// Calls `url` through `layer` in a context holding baggage and, when
/// `parent` is set, a sampled span.
async fn call_out(layer: ClientLayer, url: String, parent: bool) -> (Traceparent, String) {
    let capture = Capture::new();
    let provider = capture.provider("caller");
    let http = ServiceBuilder::new()
        .layer(layer.tracer_provider(&provider))
        .service(client());
    let mut cx = Context::current_with_baggage([KeyValue::new("user", "ada")]);
    if parent {
        let span = provider.tracer("test").start_with_context("parent", &cx);
        cx = cx.with_span(span);
    }
    let req = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    let resp = http.oneshot(req).with_context(cx).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    let (tp, baggage) = body.split_once('|').unwrap();
    (Traceparent::parse(tp).unwrap(), baggage.to_owned())
}

#[tokio::test]
async fn baggage_goes_only_to_allowed_hosts() {
    let addr = echo().await;
    let url = format!("http://{addr}/echo");
    let (_, baggage) = call_out(ClientLayer::new(), url.clone(), true).await;
    assert_eq!(baggage, "", "no host is allowed by default");
    let allowed = ClientLayer::new().baggage_hosts(["127.0.0.1"]);
    assert_eq!(call_out(allowed, url.clone(), true).await.1, "user=ada");
    let all = ClientLayer::new().baggage_hosts(["*"]);
    assert_eq!(call_out(all, url.clone(), true).await.1, "user=ada");
    let other = ClientLayer::new().baggage_hosts(["*.internal", "users"]);
    assert_eq!(call_out(other, url, true).await.1, "");
}

#[tokio::test]
async fn a_trace_a_client_starts_is_marked_random() {
    let addr = echo().await;
    let url = format!("http://{addr}/echo");
    let (root, _) = call_out(ClientLayer::new(), url.clone(), false).await;
    assert_ne!(root.trace_id(), TraceId::INVALID);
    assert_eq!(root.flags().to_u8(), 0x03, "sampled, and random");
    let (child, _) = call_out(ClientLayer::new(), url, true).await;
    assert_ne!(child.span_id(), SpanId::INVALID);
    assert_eq!(
        child.flags().to_u8(),
        0x01,
        "a local parent's trace keeps its flags"
    );
}

#[tokio::test]
async fn client_spans_carry_the_correlation_id() {
    use o11y_core::{CorrelationContextExt, CorrelationId};
    let addr = echo().await;
    for stored in [Some("order-42"), None] {
        let capture = Capture::new();
        let http = ServiceBuilder::new()
            .layer(ClientLayer::new().tracer_provider(&capture.provider("caller")))
            .service(client());
        let mut cx = Context::new();
        if let Some(id) = stored {
            cx = cx.with_correlation_id(CorrelationId::parse(id).unwrap());
        }
        let req = Request::get(format!("http://{addr}/echo"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        http.oneshot(req).with_context(cx).await.unwrap();
        let spans = capture.wait_for(1);
        let span = spans.roots()[0];
        let want = stored.map_or_else(|| span.trace_id().to_string(), str::to_owned);
        assert_eq!(span.attr_str("correlation.id"), Some(want));
    }
}
