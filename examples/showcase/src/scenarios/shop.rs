//! Section A: the shop (gateway, users, orders, the queue, notifications,
//! the validator function).

use futures_util::future::BoxFuture;
use o11y::{
    opentelemetry::{Value, trace::SpanKind},
    testing::Spans,
};
use serde_json::json;

use super::{Outcome, Scenario, ensure, logs_carry, one, only, trace_of, wait_until};
use crate::{Logs, Stack, shape};

/// `method url` with a JSON body and correlation id `correlation`; the
/// status and the JSON answer.
async fn send(
    method: reqwest::Method,
    url: &str,
    correlation: &str,
    body: Option<serde_json::Value>,
) -> Result<(u16, serde_json::Value), String> {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .header("x-trace-id", correlation);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or_default()))
}

/// A user registered directly with user-service; its id.
async fn user(stack: &Stack, correlation: &str) -> Result<u64, String> {
    let body = json!({"name": "Ada", "email": "ada@example.com"});
    let url = format!("{}/api/users", stack.shop.users);
    let (status, user) = send(reqwest::Method::POST, &url, correlation, Some(body)).await?;
    ensure(status == 201, || format!("registering: {status} {user}"))?;
    user["id"]
        .as_u64()
        .ok_or_else(|| format!("no id in {user}"))
}

/// The trace entered at `service` with `correlation`, once `n` spans ended,
/// its log lines checked.
fn traced(
    stack: &Stack,
    logs: &Logs,
    service: &str,
    correlation: &str,
    n: usize,
) -> Result<(Spans, Vec<String>), String> {
    let spans = trace_of(stack, service, correlation, n)?;
    let lines = logs_carry(logs, spans.trace_ids()[0], correlation)?;
    Ok((
        spans,
        vec![format!(
            "x-trace-id {correlation}; {lines} log lines, each with trace_id and correlation_id"
        )],
    ))
}

fn settle(result: Result<Outcome, String>) -> Outcome {
    result.unwrap_or_else(Outcome::failed)
}

pub const A1: Scenario = Scenario {
    id: "A1",
    title: "user lookup",
    proves: "gateway -> user-service: HTTP parenting, CLIENT/SERVER kinds, route-based names",
    run: a1,
};

fn a1<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let id = user(stack, "a1-setup").await?;
                let url = format!("{}/api/users/{id}", stack.shop.gateway);
                let (status, body) =
                    send(reqwest::Method::GET, &url, "a1-user-lookup", None).await?;
                ensure(status == 200, || format!("{status} {body}"))?;
                let (spans, notes) = traced(stack, logs, "api-gateway", "a1-user-lookup", 3)?;
                let verdict = shape::check(
                    &spans,
                    "\
api-gateway SERVER GET /api/users/{id}
  api-gateway CLIENT GET /api/users/{id}
    user-service SERVER GET /api/users/{id}",
                );
                Ok(Outcome::new(spans, notes, verdict))
            }
            .await,
        )
    })
}

/// The shape of an order placed through the gateway, down to the
/// notification of `queue`.
fn order_shape(queue: &str) -> String {
    format!(
        "\
api-gateway SERVER POST /api/orders
  api-gateway CLIENT POST /api/orders
    order-service SERVER POST /api/orders
      order-service CLIENT GET /api/users/{{id}}
        user-service SERVER GET /api/users/{{id}}
      order-service PRODUCER send {queue}
        notification-service CONSUMER process {queue}"
    )
}

pub const A2: Scenario = Scenario {
    id: "A2",
    title: "order creation",
    proves: "gateway -> order-service -> user-service: three hops, one trace",
    run: a2,
};

fn a2<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let id = user(stack, "a2-setup").await?;
                let url = format!("{}/api/orders", stack.shop.gateway);
                let order = json!({"user_id": id, "amount": 42.5, "items": ["tea"]});
                let (status, body) = send(
                    reqwest::Method::POST,
                    &url,
                    "a2-order-creation",
                    Some(order),
                )
                .await?;
                ensure(status == 201, || format!("{status} {body}"))?;
                let (spans, notes) = traced(stack, logs, "api-gateway", "a2-order-creation", 7)?;
                let verdict = shape::check(&spans, &order_shape(&stack.shop.queue));
                Ok(Outcome::new(spans, notes, verdict))
            }
            .await,
        )
    })
}

fn attempt(span: &o11y::testing::CapturedSpan) -> Option<i64> {
    match span.attr("o11y.messaging.delivery.attempt") {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

/// Places an order with the order-service at `orders` for a new user;
/// the trace once `n` spans of it ended (the consumer's included).
async fn order_through_queue(
    stack: &Stack,
    logs: &Logs,
    orders: &str,
    correlation: &str,
    n: usize,
) -> Result<(Spans, Vec<String>), String> {
    let id = user(stack, &format!("{correlation}-setup")).await?;
    let order = json!({"user_id": id, "amount": 9.5, "items": ["tea"]});
    let (status, body) = send(
        reqwest::Method::POST,
        &format!("{orders}/api/orders"),
        correlation,
        Some(order),
    )
    .await?;
    ensure(status == 201, || format!("{status} {body}"))?;
    traced(stack, logs, "order-service", correlation, n)
}

/// A3 on the selected transport: the shape, the time in queue, one attempt.
async fn through_queue(stack: &Stack, logs: &Logs, correlation: &str) -> Result<Outcome, String> {
    let url = format!("{}/api/orders", stack.shop.gateway);
    let id = user(stack, &format!("{correlation}-setup")).await?;
    let order = json!({"user_id": id, "amount": 9.5, "items": ["tea"]});
    let (status, body) = send(reqwest::Method::POST, &url, correlation, Some(order)).await?;
    ensure(status == 201, || format!("{status} {body}"))?;
    let (spans, mut notes) = traced(stack, logs, "api-gateway", correlation, 7)?;
    let verdict = (|| {
        shape::check(&spans, &order_shape(&stack.shop.queue))?;
        let consumer = spans
            .iter()
            .find(|s| s.kind() == SpanKind::Consumer)
            .ok_or("no consumer span")?;
        ensure(attempt(consumer) == Some(1), || {
            "more than one attempt".into()
        })?;
        notes.push(format!(
            "transport {}: time in queue {}, attempt 1, {}",
            stack.transport_name,
            consumer
                .attr("o11y.messaging.queue_time")
                .map_or("not recorded".into(), |v| format!("{v} s")),
            consumer
                .attr_str("o11y.messaging.outcome")
                .unwrap_or_default()
        ));
        Ok(())
    })();
    Ok(Outcome::new(spans, notes, verdict))
}

pub const A3: Scenario = Scenario {
    id: "A3",
    title: "async notification",
    proves: "order -> queue -> notification: context in the message, PRODUCER/CONSUMER, time in queue",
    run: a3,
};

fn a3<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move { settle(through_queue(stack, logs, "a3-async-notification").await) })
}

pub const A4: Scenario = Scenario {
    id: "A4",
    title: "registration -> order -> payment",
    proves: "gateway -> user -> order -> payment -> audit (PostgreSQL): a business transaction end to end, db spans",
    run: a4,
};

fn a4<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        let (gateway, queue) = match &stack.shop.checkout {
            Ok(found) => found,
            Err(why) => return Outcome::skipped(why.clone()),
        };
        settle(async {
            let url = format!("{gateway}/api/checkout");
            let checkout = json!({"name": "Ada", "email": "ada@example.com", "amount": 42.5, "items": ["tea"]});
            let (status, body) = send(reqwest::Method::POST, &url, "a4-checkout", Some(checkout)).await?;
            ensure(status == 201 && body["order"]["status"] == "paid", || format!("{status} {body}"))?;
            let (spans, notes) = traced(stack, logs, "api-gateway", "a4-checkout", 13)?;
            let table = &stack.shop.audit_table;
            let verdict = shape::check(&spans, &format!("\
api-gateway SERVER POST /api/checkout
  api-gateway CLIENT POST /api/users
    user-service SERVER POST /api/users
  api-gateway CLIENT POST /api/orders
    order-service SERVER POST /api/orders
      order-service CLIENT GET /api/users/{{id}}
        user-service SERVER GET /api/users/{{id}}
      order-service CLIENT POST /api/payments
        payment-service SERVER POST /api/payments
          payment-service CLIENT POST /api/audit
            audit-service SERVER POST /api/audit
              audit-service CLIENT INSERT {table}
      order-service PRODUCER send {queue}"))
            .and_then(|()| {
                let insert = one(&spans, "audit-service", SpanKind::Client, &format!("INSERT {table}"))?;
                ensure(insert.attr_str("db.system.name").as_deref() == Some("postgresql"), || {
                    "the INSERT span lacks db.system.name postgresql".into()
                })
            });
            Ok(Outcome::new(spans, notes, verdict))
        }.await)
    })
}

pub const A5: Scenario = Scenario {
    id: "A5",
    title: "order validation",
    proves: "gateway -> a serverless-style function invoked with an event: context from the event's headers",
    run: a5,
};

fn a5<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let url = format!("{}/api/orders/validate", stack.shop.gateway);
                let draft = json!({"user_id": 7, "amount": 12.0, "items": []});
                let (status, verdict) = send(
                    reqwest::Method::POST,
                    &url,
                    "a5-order-validation",
                    Some(draft),
                )
                .await?;
                ensure(status == 200 && verdict["valid"] == false, || {
                    format!("{status} {verdict}")
                })?;
                let (spans, mut notes) =
                    traced(stack, logs, "api-gateway", "a5-order-validation", 3)?;
                notes.push(format!("the function answered {verdict}"));
                let verdict = shape::check(
                    &spans,
                    "\
api-gateway SERVER POST /api/orders/validate
  api-gateway CLIENT POST /validate
    order-validator SERVER POST /validate",
                );
                Ok(Outcome::new(spans, notes, verdict))
            }
            .await,
        )
    })
}

pub const A6: Scenario = Scenario {
    id: "A6",
    title: "queue transport swap",
    proves: "A3 on the transport `--transport` names (memory, redis, sqs, amqp): the same trace shape",
    run: a6,
};

fn a6<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move { settle(through_queue(stack, logs, "a6-transport-swap").await) })
}

pub const A7: Scenario = Scenario {
    id: "A7",
    title: "handler failure",
    proves: "the notification webhook fails twice, then works: three attempts in the producer's trace, nothing lost",
    run: a7,
};

fn a7<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let correlation = "a7-handler-failure";
                let (spans, notes) =
                    order_through_queue(stack, logs, &stack.shop.flaky_orders, correlation, 4)
                        .await?;
                let id = spans.trace_ids()[0];
                let consumers = |s: &Spans| {
                    only(s, id)
                        .iter()
                        .filter(|s| s.kind() == SpanKind::Consumer)
                        .count()
                };
                let spans = only(&wait_until(stack, |s| consumers(s) >= 3), id);
                let mut tries: Vec<_> = spans
                    .iter()
                    .filter(|s| s.kind() == SpanKind::Consumer)
                    .collect();
                tries.sort_by_key(|s| attempt(s));
                let outcomes: Vec<String> = tries
                    .iter()
                    .map(|s| s.attr_str("o11y.messaging.outcome").unwrap_or_default())
                    .collect();
                let mut notes = notes;
                notes.push(format!("attempts: {}", outcomes.join(", ")));
                let verdict = ensure(outcomes == ["retry", "retry", "ack"], || {
                    format!("outcomes {outcomes:?}")
                });
                Ok(Outcome::new(spans, notes, verdict))
            }
            .await,
        )
    })
}
