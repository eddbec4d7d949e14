//! A4: registration -> order -> payment -> audit, one business transaction
//! through five services and PostgreSQL, in one trace; the audit row
//! stores that trace's id.

mod support;

use std::time::Duration;

use o11y::{
    opentelemetry::{Value, trace::SpanKind},
    queue::{AnyTransport, MemoryTransport},
};
use reqwest::Method;
use serde_json::json;
use shop::{audit, gateway, orders, payments, users};
use support::*;

const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A connection of the test's own, to read the rows and drop the table.
async fn database() -> Option<tokio_postgres::Client> {
    let connect = tokio_postgres::connect(DATABASE_URL, tokio_postgres::NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(5), connect)
        .await
        .ok()?
        .ok()?;
    tokio::spawn(connection);
    Some(client)
}

#[tokio::test]
async fn a4_registration_order_payment_audit() {
    let Some(db) = database().await else {
        return skip(
            "a4_registration_order_payment_audit",
            "postgresql on 127.0.0.1:5432",
        );
    };
    let shop = Shop::new();
    let table = unique("a4");
    let config = audit::Config {
        database_url: DATABASE_URL.to_owned(),
        table: table.clone(),
    };
    let guard = shop.telemetry("audit-service");
    let store = audit::Store::connect(&config, &guard).await.unwrap();
    let audit = serve(audit::router(store, &guard)).await;
    let users = serve(users::router(&shop.telemetry("user-service"))).await;
    let payment_config = payments::Config {
        audit_service: audit.clone(),
        limit: 1000.0,
    };
    let payments = serve(payments::router(
        payment_config,
        &shop.telemetry("payment-service"),
    ))
    .await;
    let queue = unique("a4");
    let order_config = orders::Config {
        user_service: users.clone(),
        payment_service: Some(payments.clone()),
        queue: queue.clone(),
    };
    let transport = AnyTransport::Memory(MemoryTransport::new());
    let orders = serve(orders::router(
        order_config,
        transport,
        &shop.telemetry("order-service"),
    ))
    .await;
    let gateway_config = gateway::Config {
        user_service: users.clone(),
        order_service: orders.clone(),
        validator: dead_url().await,
    };
    let gw = serve(gateway::router(
        gateway_config,
        &shop.telemetry("api-gateway"),
    ))
    .await;
    let correlation = unique("a4");

    let checkout =
        json!({"name": "Ada", "email": "ada@example.com", "amount": 42.5, "items": ["tea"]});
    let url = format!("{gw}/api/checkout");
    let (status, body) = send(Method::POST, &url, &correlation, Some(checkout)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["order"]["status"], "paid");

    let insert = format!("INSERT {table}");
    let spans = shop
        .spans(move |s| {
            s.iter().any(|s| s.name() == insert)
                && s.iter().any(|s| s.name() == "POST /api/checkout")
        })
        .await;
    let entry = span(
        &spans,
        "api-gateway",
        SpanKind::Server,
        "POST /api/checkout",
    );
    assert_root(entry, SpanKind::Server);
    assert_http(entry, SpanKind::Server, 201);
    let trace = entry.trace_id();
    let child_of =
        |parent: &o11y::testing::CapturedSpan, service: &str, kind: SpanKind, name: &str| {
            let found: Vec<_> = spans
                .iter()
                .filter(|s| s.parent_id() == parent.span_id() && s.trace_id() == trace)
                .filter(|s| s.service() == service && s.kind() == kind && s.name() == name)
                .collect();
            assert_eq!(
                found.len(),
                1,
                "{service} {kind:?} {name} under {}:\n{}",
                parent.name(),
                spans.render_tree()
            );
            found[0]
        };
    // gateway -> user-service (registration)
    let register = child_of(entry, "api-gateway", SpanKind::Client, "POST /api/users");
    assert_http(register, SpanKind::Client, 201);
    child_of(
        register,
        "user-service",
        SpanKind::Server,
        "POST /api/users",
    );
    // gateway -> order-service -> user-service, payment-service -> audit-service -> PostgreSQL
    let order_call = child_of(entry, "api-gateway", SpanKind::Client, "POST /api/orders");
    let order = child_of(
        order_call,
        "order-service",
        SpanKind::Server,
        "POST /api/orders",
    );
    let user_call = child_of(
        order,
        "order-service",
        SpanKind::Client,
        "GET /api/users/{id}",
    );
    child_of(
        user_call,
        "user-service",
        SpanKind::Server,
        "GET /api/users/{id}",
    );
    let pay_call = child_of(
        order,
        "order-service",
        SpanKind::Client,
        "POST /api/payments",
    );
    let payment = child_of(
        pay_call,
        "payment-service",
        SpanKind::Server,
        "POST /api/payments",
    );
    assert_http(payment, SpanKind::Server, 201);
    let audit_call = child_of(
        payment,
        "payment-service",
        SpanKind::Client,
        "POST /api/audit",
    );
    let audit_server = child_of(
        audit_call,
        "audit-service",
        SpanKind::Server,
        "POST /api/audit",
    );
    let query = child_of(
        audit_server,
        "audit-service",
        SpanKind::Client,
        &format!("INSERT {table}"),
    );
    child_of(
        order,
        "order-service",
        SpanKind::Producer,
        &format!("send {queue}"),
    );

    let attr = |key: &str| query.attr_str(key);
    assert_eq!(attr("db.system.name").as_deref(), Some("postgresql"));
    assert_eq!(attr("db.namespace").as_deref(), Some("test"));
    assert_eq!(attr("db.operation.name").as_deref(), Some("INSERT"));
    assert_eq!(attr("db.collection.name").as_deref(), Some(table.as_str()));
    assert_eq!(attr("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(query.attr("server.port"), Some(&Value::I64(5432)));
    let text = attr("db.query.text").unwrap();
    assert!(text.contains("VALUES ($1, $2, $3, $4, $5)"), "{text}");
    assert!(
        !text.contains("payment.approved") && !text.contains(&correlation),
        "{text}"
    );
    assert!(!query.is_error());

    // The row written carries the request's trace and correlation ids.
    let sql = format!("SELECT action, subject, trace_id, correlation_id FROM {table}");
    let rows = db.query(sql.as_str(), &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = |i: usize| rows[0].get::<_, Option<String>>(i);
    assert_eq!(row(0).as_deref(), Some("payment.approved"));
    assert_eq!(row(1), Some(format!("order:{}", body["order"]["id"])));
    assert_eq!(row(2), Some(trace.to_string()));
    assert_eq!(row(3).as_deref(), Some(correlation.as_str()));

    for (target, message) in [
        ("shop::users", "user registered"),
        ("shop::gateway", "registered; placing the order"),
        ("shop::users", "user found"),
        ("shop::audit", "audit row written"),
        ("shop::payments", "payment decided"),
        ("shop::orders", "order placed"),
    ] {
        assert_logged(trace, target, message, &correlation);
    }

    assert_eq!(metric(&users, "users_created_total", &[]).await, 1.0);
    assert_eq!(metric(&orders, "orders_created_total", &[]).await, 1.0);
    assert_eq!(metric(&orders, "order_value_sum", &[]).await, 42.5);
    let route = r#"route="/api/checkout""#;
    assert_eq!(metric(&gw, "gateway_requests_total", &[route]).await, 1.0);

    // Over the limit: declined, audited as such, counted, nothing placed.
    let too_much =
        json!({"name": "Bob", "email": "bob@example.com", "amount": 5000.0, "items": ["car"]});
    let declined = unique("a4_declined");
    let (status, _) = send(Method::POST, &url, &declined, Some(too_much)).await;
    assert_eq!(status, 402);
    let sql = format!("SELECT action, correlation_id FROM {table} WHERE correlation_id = $1");
    let rows = db.query(sql.as_str(), &[&declined]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "payment.declined");
    let reason = r#"reason="payment_declined""#;
    assert_eq!(metric(&orders, "orders_errors_total", &[reason]).await, 1.0);
    assert_eq!(metric(&orders, "orders_created_total", &[]).await, 1.0);
    assert_eq!(metric(&gw, "gateway_errors_total", &[]).await, 0.0);

    db.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}
