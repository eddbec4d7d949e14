//! A1 (user lookup), A2 (order creation) and A5 (order validation by a
//! serverless-style function): the real routers on loopback ports, driven
//! over HTTP, their spans, log lines and metrics asserted.

mod support;

use o11y::{
    opentelemetry::trace::SpanKind,
    queue::{AnyTransport, MemoryTransport},
};
use reqwest::Method;
use serde_json::json;
use shop::{gateway, orders, users, validator};
use support::*;

/// The gateway in front of `users`, `orders` and `validator` (any may be a
/// dead URL).
async fn gateway(shop: &Shop, users: &str, orders: &str, validator: &str) -> String {
    let config = gateway::Config {
        user_service: users.to_owned(),
        order_service: orders.to_owned(),
        validator: validator.to_owned(),
    };
    serve(gateway::router(config, &shop.telemetry("api-gateway"))).await
}

async fn register(gateway: &str) -> u64 {
    let body = json!({"name": "Ada", "email": "ada@example.com"});
    let (status, user) = send(
        Method::POST,
        &format!("{gateway}/api/users"),
        "setup",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    user["id"].as_u64().unwrap()
}

#[tokio::test]
async fn a1_user_lookup() {
    let shop = Shop::new();
    let users = serve(users::router(&shop.telemetry("user-service"))).await;
    let dead = dead_url().await;
    let gw = gateway(&shop, &users, &dead, &dead).await;
    let id = register(&gw).await;
    let correlation = unique("a1");

    let (status, user) = send(
        Method::GET,
        &format!("{gw}/api/users/{id}"),
        &correlation,
        None,
    )
    .await;
    assert_eq!((status, user["name"].as_str()), (200, Some("Ada")));

    let spans = shop
        .spans(|s| {
            s.iter()
                .filter(|s| s.name() == "GET /api/users/{id}")
                .count()
                == 3
        })
        .await;
    let entry = span(
        &spans,
        "api-gateway",
        SpanKind::Server,
        "GET /api/users/{id}",
    );
    let trace = entry.trace_id();
    let in_trace: Vec<_> = spans.iter().filter(|s| s.trace_id() == trace).collect();
    assert_eq!(in_trace.len(), 3, "{}", spans.render_tree());
    assert_root(entry, SpanKind::Server);
    assert_http(entry, SpanKind::Server, 200);
    assert_eq!(
        entry.attr_str("http.route").as_deref(),
        Some("/api/users/{id}")
    );
    let call = spans
        .iter()
        .find(|s| s.trace_id() == trace && s.kind() == SpanKind::Client)
        .expect("the gateway's call");
    assert_eq!(call.service(), "api-gateway");
    assert_eq!(call.name(), "GET /api/users/{id}");
    assert_http(call, SpanKind::Client, 200);
    assert_child(call, entry);
    let served = span(
        &spans,
        "user-service",
        SpanKind::Server,
        "GET /api/users/{id}",
    );
    assert_http(served, SpanKind::Server, 200);
    assert_child(served, call);

    assert_logged(trace, "shop::gateway", "looking up a user", &correlation);
    assert_logged(trace, "shop::users", "user found", &correlation);

    let route = r#"route="/api/users/{id}""#;
    assert_eq!(metric(&gw, "gateway_requests_total", &[route]).await, 1.0);
    assert_eq!(
        metric(&gw, "gateway_requests_total", &[]).await,
        2.0,
        "and the registration"
    );
    assert_eq!(metric(&gw, "gateway_errors_total", &[]).await, 0.0);
    assert_eq!(metric(&users, "users_created_total", &[]).await, 1.0);
}

#[tokio::test]
async fn a1_an_unreachable_service_is_a_gateway_error() {
    let shop = Shop::new();
    let dead = dead_url().await;
    let gw = gateway(&shop, &dead, &dead, &dead).await;
    let correlation = unique("a1_down");

    let (status, _) = send(
        Method::GET,
        &format!("{gw}/api/users/1"),
        &correlation,
        None,
    )
    .await;
    assert_eq!(status, 502);

    let spans = shop.spans(|s| s.len() == 2).await;
    let entry = span(
        &spans,
        "api-gateway",
        SpanKind::Server,
        "GET /api/users/{id}",
    );
    let call = spans.iter().find(|s| s.kind() == SpanKind::Client).unwrap();
    assert_child(call, entry);
    assert!(call.is_error(), "the failed call is an error");
    assert_eq!(call.attr_str("error.type").as_deref(), Some("connect"));
    assert!(entry.is_error(), "a 502 answer is a server error");
    let route = r#"route="/api/users/{id}""#;
    assert_eq!(metric(&gw, "gateway_errors_total", &[route]).await, 1.0);
    assert_eq!(metric(&gw, "gateway_requests_total", &[route]).await, 1.0);
}

#[tokio::test]
async fn a2_order_creation() {
    let shop = Shop::new();
    let users = serve(users::router(&shop.telemetry("user-service"))).await;
    let queue = unique("a2");
    let config = orders::Config {
        user_service: users.clone(),
        payment_service: None,
        queue: queue.clone(),
    };
    let transport = AnyTransport::Memory(MemoryTransport::new());
    let orders = serve(orders::router(
        config,
        transport,
        &shop.telemetry("order-service"),
    ))
    .await;
    let dead = dead_url().await;
    let gw = gateway(&shop, &users, &orders, &dead).await;
    let id = register(&gw).await;
    let correlation = unique("a2");

    let order = json!({"user_id": id, "amount": 42.5, "items": ["tea"]});
    let (status, placed) = send(
        Method::POST,
        &format!("{gw}/api/orders"),
        &correlation,
        Some(order),
    )
    .await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["status"], "created");

    let send_span = format!("send {queue}");
    let spans = shop
        .spans(move |s| {
            s.iter().any(|s| s.name() == send_span) && s.named("GET /api/users/{id}").len() == 2
        })
        .await;
    let entry = span(&spans, "api-gateway", SpanKind::Server, "POST /api/orders");
    let trace = entry.trace_id();
    assert_root(entry, SpanKind::Server);
    assert_http(entry, SpanKind::Server, 201);
    let in_trace = |service: &str, kind: SpanKind| {
        let found: Vec<_> = spans
            .iter()
            .filter(|s| s.trace_id() == trace && s.service() == service && s.kind() == kind)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "one {kind:?} span of {service}:\n{}",
            spans.render_tree()
        );
        found[0]
    };
    let gw_call = in_trace("api-gateway", SpanKind::Client);
    let order_server = in_trace("order-service", SpanKind::Server);
    let order_call = in_trace("order-service", SpanKind::Client);
    let user_server = in_trace("user-service", SpanKind::Server);
    let producer = in_trace("order-service", SpanKind::Producer);
    assert_eq!(
        spans.iter().filter(|s| s.trace_id() == trace).count(),
        6,
        "{}",
        spans.render_tree()
    );
    assert_eq!(gw_call.name(), "POST /api/orders");
    assert_http(gw_call, SpanKind::Client, 201);
    assert_child(gw_call, entry);
    assert_eq!(order_server.name(), "POST /api/orders");
    assert_http(order_server, SpanKind::Server, 201);
    assert_child(order_server, gw_call);
    assert_eq!(order_call.name(), "GET /api/users/{id}");
    assert_child(order_call, order_server);
    assert_eq!(user_server.name(), "GET /api/users/{id}");
    assert_http(user_server, SpanKind::Server, 200);
    assert_child(user_server, order_call);
    assert_eq!(producer.name(), format!("send {queue}"));
    assert_child(producer, order_server);
    assert_eq!(
        producer.attr_str("messaging.destination.name"),
        Some(queue.clone())
    );

    assert_logged(trace, "shop::gateway", "placing an order", &correlation);
    assert_logged(trace, "shop::users", "user found", &correlation);
    let placed_line = assert_logged(trace, "shop::orders", "order placed", &correlation);
    assert_eq!(placed_line["order_id"], placed["id"]);

    assert_eq!(metric(&orders, "orders_created_total", &[]).await, 1.0);
    assert_eq!(metric(&orders, "order_value_sum", &[]).await, 42.5);
    assert_eq!(metric(&orders, "order_value_count", &[]).await, 1.0);
    assert_eq!(metric(&orders, "orders_errors_total", &[]).await, 0.0);
    assert_eq!(
        metric(&gw, "gateway_requests_total", &[r#"route="/api/orders""#]).await,
        1.0
    );

    // An unknown user: refused, counted by reason, the user-service's 404
    // is not a server error.
    let order = json!({"user_id": 999, "amount": 1.0, "items": ["tea"]});
    let (status, _) = send(
        Method::POST,
        &format!("{gw}/api/orders"),
        &correlation,
        Some(order),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        metric(
            &orders,
            "orders_errors_total",
            &[r#"reason="unknown_user""#]
        )
        .await,
        1.0
    );
    assert_eq!(metric(&orders, "orders_created_total", &[]).await, 1.0);
    assert_eq!(metric(&gw, "gateway_errors_total", &[]).await, 0.0);
}

#[tokio::test]
async fn a5_order_validation_by_a_function() {
    let shop = Shop::new();
    let function = serve(validator::router(&shop.telemetry("order-validator"))).await;
    let dead = dead_url().await;
    let gw = gateway(&shop, &dead, &dead, &function).await;
    let correlation = unique("a5");

    let draft = json!({"user_id": 7, "amount": 12.0, "items": []});
    let url = format!("{gw}/api/orders/validate");
    let (status, verdict) = send(Method::POST, &url, &correlation, Some(draft)).await;
    assert_eq!(status, 200);
    assert_eq!(
        verdict,
        json!({"valid": false, "problems": ["an order needs items"]})
    );

    let spans = shop.spans(|s| s.len() == 3).await;
    let entry = span(
        &spans,
        "api-gateway",
        SpanKind::Server,
        "POST /api/orders/validate",
    );
    assert_root(entry, SpanKind::Server);
    let call = span(&spans, "api-gateway", SpanKind::Client, "POST /validate");
    assert_http(call, SpanKind::Client, 200);
    assert_child(call, entry);
    let invocation = span(
        &spans,
        "order-validator",
        SpanKind::Server,
        "POST /validate",
    );
    assert_eq!(invocation.kind(), SpanKind::Server);
    assert_child(invocation, call);
    assert_eq!(invocation.attr_str("faas.trigger").as_deref(), Some("http"));
    assert_eq!(
        invocation.attr_str("faas.name").as_deref(),
        Some("order-validator")
    );
    assert!(
        invocation
            .attr_str("faas.invocation_id")
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(
        invocation.attr("http.response.status_code"),
        Some(&o11y::opentelemetry::Value::I64(200))
    );

    let trace = entry.trace_id();
    assert_logged(trace, "shop::gateway", "validating an order", &correlation);
    let line = assert_logged(trace, "shop::validator", "order validated", &correlation);
    assert_eq!(
        line["span_id"],
        invocation.span_id().to_string(),
        "logged inside the invocation"
    );
    assert_eq!(line["valid"], false);

    let route = r#"route="/api/orders/validate""#;
    assert_eq!(metric(&gw, "gateway_requests_total", &[route]).await, 1.0);
}
