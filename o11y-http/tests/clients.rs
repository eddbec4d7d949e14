//! The other clients and protocols: reqwest through reqwest-middleware, and a
//! gRPC round trip with tonic, client and server layers on both ends.

use std::net::SocketAddr;

use axum::{Router, routing::get};
use o11y_core::testing::Capture;
use o11y_http::{ClientMiddleware, ClientRoute, NoPropagation, ServerLayer};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider};

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test]
async fn reqwest_middleware_parents_the_server_span() {
    let capture = Capture::new();
    let router = Router::new()
        .route(
            "/users/{id}",
            get(|headers: http::HeaderMap| async move {
                headers
                    .get("traceparent")
                    .map(|_| "traced")
                    .unwrap_or("untraced")
            }),
        )
        .layer(ServerLayer::new().tracer_provider(&capture.provider("users")));
    let addr = serve(router).await;
    let caller = capture.provider("caller");
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ClientMiddleware::new().tracer_provider(&caller))
        .build();

    let tracer = caller.tracer("test");
    let root = tracer.start("checkout");
    let cx = opentelemetry::Context::current_with_span(root);
    let body = {
        use opentelemetry::context::FutureExt;
        let req = client
            .get(format!("http://{addr}/users/7"))
            .with_extension(ClientRoute("/users/{id}"));
        req.send()
            .with_context(cx.clone())
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    cx.span().end();
    assert_eq!(body, "traced");
    let spans = capture.wait_for(3);
    spans.assert_single_trace();
    let client_span = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    assert_eq!(client_span.name(), "GET /users/{id}");
    assert_eq!(
        client_span.attr_str("http.response.status_code").as_deref(),
        Some("200")
    );
    let server_span = spans.iter().find(|s| s.kind() == SpanKind::Server).unwrap();
    assert_eq!(server_span.parent_id(), client_span.span_id());
    assert_eq!(
        client_span.parent_id(),
        spans.find("checkout").span_id(),
        "the caller's current span is the parent"
    );

    // Opting out for a third party: the span is kept, nothing is sent.
    capture.clear();
    let body = client
        .get(format!("http://{addr}/users/8"))
        .with_extension(NoPropagation)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "untraced");
    let spans = capture.wait_for(2);
    assert_eq!(
        spans.trace_ids().len(),
        2,
        "the server started its own trace"
    );
}

#[tokio::test]
async fn reqwest_connection_errors_are_recorded() {
    let capture = Capture::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(ClientMiddleware::new().tracer_provider(&capture.provider("caller")))
        .build();
    assert!(
        client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_err()
    );
    let spans = capture.wait_for(1);
    let span = spans.find("GET");
    assert!(span.is_error());
    assert_eq!(span.attr_str("error.type").as_deref(), Some("connect"));
}

#[tokio::test]
async fn grpc_round_trip_is_one_trace() {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let capture = Capture::new();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let grpc_route = |parts: &http::request::Parts| Some(parts.uri.path().to_owned());
    let server = tonic::transport::Server::builder()
        .layer(
            ServerLayer::new()
                .tracer_provider(&capture.provider("grpc-server"))
                .route_fn(grpc_route),
        )
        .add_service(health)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let traced = tower::ServiceBuilder::new()
        .layer(o11y_http::ClientLayer::new().tracer_provider(&capture.provider("grpc-client")))
        .service(channel);
    let mut client = HealthClient::new(traced);
    let resp = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(resp.into_inner().status, 1, "SERVING");

    let spans = capture.wait_for(2);
    spans.assert_single_trace();
    let server = spans.find("POST /grpc.health.v1.Health/Check");
    assert_eq!(server.kind(), SpanKind::Server);
    let client_span = spans.find("POST");
    assert_eq!(client_span.kind(), SpanKind::Client);
    assert_eq!(server.parent_id(), client_span.span_id());
}
