//! A3 (order -> queue -> notification), A6 (A3 on every broker: memory,
//! Redis Streams, Redis lists, RabbitMQ, SQS on moto_server) and A7 (a
//! failing notification: retried, then sent; or dead-lettered).

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{Router, http::StatusCode, routing::post};
use o11y::{
    opentelemetry::{Value, trace::SpanKind},
    queue::{AnyTransport, DEAD_LETTER_ATTEMPTS, DEAD_LETTER_REASON, MemoryTransport, Transport},
    testing::{CapturedSpan, Spans},
};
use reqwest::Method;
use serde_json::json;
use shop::{notifications, orders, users};
use support::*;
use tokio::{sync::oneshot, task::JoinHandle};

/// users, orders and notifications around one queue.
struct Running {
    orders: String,
    notifications: String,
    user_id: u64,
    stop: oneshot::Sender<()>,
    consumer: JoinHandle<()>,
}

impl Running {
    /// Stops the consumer and waits (bounded) for it to return.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.consumer)
            .await
            .expect("the consumer stops")
            .unwrap();
    }
}

fn notify(queue: &str, webhook: Option<String>, max_attempts: u32) -> notifications::Config {
    notifications::Config {
        queue: queue.to_owned(),
        webhook,
        max_attempts,
        retry_base: Duration::from_millis(50),
    }
}

async fn start(shop: &Shop, transport: AnyTransport, config: notifications::Config) -> Running {
    let users = serve(users::router(&shop.telemetry("user-service"))).await;
    let order_config = orders::Config {
        user_service: users.clone(),
        payment_service: None,
        queue: config.queue.clone(),
    };
    let guard = shop.telemetry("order-service");
    let orders = serve(orders::router(order_config, transport.clone(), &guard)).await;
    let guard = shop.telemetry("notification-service");
    let notifier = notifications::Notifier::new(config, &guard);
    let notifications = serve(notifier.router(&guard)).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let consumer = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        notifier.consume(transport, &guard, shutdown).await;
    });
    let body = json!({"name": "Ada", "email": "ada@example.com"});
    let (status, user) = send(
        Method::POST,
        &format!("{users}/api/users"),
        "setup",
        Some(body),
    )
    .await;
    assert_eq!(status, 201);
    Running {
        orders,
        notifications,
        user_id: user["id"].as_u64().unwrap(),
        stop,
        consumer,
    }
}

/// Places an order directly with order-service; its id.
async fn place(running: &Running, correlation: &str) -> u64 {
    let order = json!({"user_id": running.user_id, "amount": 9.5, "items": ["tea"]});
    let url = format!("{}/api/orders", running.orders);
    let (status, placed) = send(Method::POST, &url, correlation, Some(order)).await;
    assert_eq!(status, 201, "{placed}");
    placed["id"].as_u64().unwrap()
}

fn attempt(s: &CapturedSpan) -> Option<i64> {
    match s.attr("o11y.messaging.delivery.attempt") {
        Some(Value::I64(n)) => Some(*n),
        _ => None,
    }
}

fn event_i64(s: &CapturedSpan, event: &str, key: &str) -> Option<i64> {
    let attrs = s.event(event)?;
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .and_then(|kv| match &kv.value {
            Value::I64(n) => Some(*n),
            _ => None,
        })
}

/// The `process` spans of `queue`, by attempt.
fn attempts<'a>(spans: &'a Spans, queue: &str) -> Vec<&'a CapturedSpan> {
    let mut found: Vec<_> = spans
        .iter()
        .filter(|s| s.name() == format!("process {queue}"))
        .collect();
    found.sort_by_key(|s| attempt(s));
    found
}

/// A3's trace: order SERVER -> PRODUCER -> CONSUMER (notification-service),
/// one trace, the log lines of both hops, the notification metrics.
/// `transport` is the `QUEUE_TRANSPORT` name.
async fn assert_a3(
    shop: &Shop,
    running: &Running,
    queue: &str,
    transport: &str,
    correlation: &str,
) {
    let system = match transport {
        "redis" | "redis-list" => "redis",
        "amqp" => "rabbitmq",
        "sqs" => "aws_sqs",
        other => other,
    };
    let order_id = place(running, correlation).await;
    let process = format!("process {queue}");
    let spans = shop
        .spans(move |s| s.iter().any(|s| s.name() == process))
        .await;
    let server = span(
        &spans,
        "order-service",
        SpanKind::Server,
        "POST /api/orders",
    );
    let producer = span(
        &spans,
        "order-service",
        SpanKind::Producer,
        &format!("send {queue}"),
    );
    let consumer = span(
        &spans,
        "notification-service",
        SpanKind::Consumer,
        &format!("process {queue}"),
    );
    assert_child(producer, server);
    assert_child(consumer, producer);
    for s in [producer, consumer] {
        assert_eq!(
            s.attr_str("messaging.system").as_deref(),
            Some(system),
            "{}",
            s.name()
        );
        assert_eq!(
            s.attr_str("messaging.destination.name").as_deref(),
            Some(queue)
        );
        assert_eq!(
            s.attr_str("messaging.message.conversation_id").as_deref(),
            Some(correlation)
        );
        assert!(!s.is_error(), "{}", s.name());
    }
    assert_eq!(attempt(consumer), Some(1));
    assert_eq!(
        consumer.attr_str("o11y.messaging.outcome").as_deref(),
        Some("ack")
    );
    // The context rides in the broker's own headers; Redis lists have none,
    // so it rides in the payload's envelope there.
    let source = if transport == "redis-list" {
        "envelope"
    } else {
        "native"
    };
    let found = consumer.attr_str("o11y.messaging.context.source");
    assert_eq!(found.as_deref(), Some(source), "{transport}");
    // Time in queue, where the broker records when the message came in
    // (Redis lists do not).
    let queue_time = consumer.attr("o11y.messaging.queue_time");
    if transport == "redis-list" {
        assert_eq!(queue_time, None);
    } else {
        let waited = matches!(queue_time, Some(Value::F64(t)) if *t >= 0.0);
        assert!(waited, "time in queue on {system}: {queue_time:?}");
    }

    let trace = server.trace_id();
    assert_logged(trace, "shop::orders", "order placed", correlation);
    let sent = assert_logged(
        trace,
        "shop::notifications",
        "order confirmation sent",
        correlation,
    );
    assert_eq!(
        sent["span_id"],
        consumer.span_id().to_string(),
        "logged inside `process`"
    );
    assert_eq!(sent["order_id"], order_id);

    let n = &running.notifications;
    assert_eq!(metric(n, "notifications_sent_total", &[]).await, 1.0);
    assert_eq!(metric(n, "notifications_failed_total", &[]).await, 0.0);
    assert_eq!(
        metric(n, "notification_processing_duration_seconds_count", &[]).await,
        1.0
    );
    let (_, list) = send(
        Method::GET,
        &format!("{n}/api/notifications"),
        "check",
        None,
    )
    .await;
    assert_eq!(
        list,
        json!([{"order_id": order_id, "email": "ada@example.com", "attempt": 1}])
    );
}

/// Deletes an A6 run's queue and its dead letters from the broker when the
/// test ends, passed or failed: each run uses a new name, and leftover
/// quorum queues pile up on RabbitMQ. Bounded (`timeout`); SQS queues live
/// in moto_server's memory.
struct Leftover {
    broker: String,
    queue: String,
}

impl Drop for Leftover {
    fn drop(&mut self) {
        let q = self.queue.as_str();
        let (dlq, members) = (format!("{q}.dlq"), format!("{q}:consumers"));
        let commands = match self.broker.as_str() {
            "amqp" => vec![
                vec!["rabbitmqctl", "delete_queue", q],
                vec!["rabbitmqctl", "delete_queue", &dlq],
            ],
            "redis" | "redis-list" => {
                vec![vec![
                    "redis-cli",
                    "-h",
                    "127.0.0.1",
                    "DEL",
                    q,
                    &dlq,
                    &members,
                ]]
            }
            _ => return,
        };
        for command in commands {
            let _ = std::process::Command::new("timeout")
                .arg("30")
                .args(command)
                .output();
        }
    }
}

/// A3 on `transport`.
async fn a3_on(transport: AnyTransport, name: &str) {
    let shop = Shop::new();
    let queue = unique(&format!("a6_{name}"));
    let _leftover = Leftover {
        broker: name.to_owned(),
        queue: queue.clone(),
    };
    let running = start(&shop, transport, notify(&queue, None, 3)).await;
    assert_a3(&shop, &running, &queue, name, &unique("corr")).await;
    running.stop().await;
}

#[tokio::test]
async fn a3_async_notification() {
    a3_on(AnyTransport::Memory(MemoryTransport::new()), "memory").await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a6_redis_streams() {
    if !reachable(6379).await {
        return skip("a6_redis_streams", "redis on 127.0.0.1:6379");
    }
    let t = AnyTransport::connect("redis", Some("redis://127.0.0.1:6379"))
        .await
        .unwrap();
    a3_on(t, "redis").await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a6_redis_lists() {
    if !reachable(6379).await {
        return skip("a6_redis_lists", "redis on 127.0.0.1:6379");
    }
    let t = AnyTransport::connect("redis-list", Some("redis://127.0.0.1:6379"))
        .await
        .unwrap();
    a3_on(t, "redis-list").await;
}

#[cfg(feature = "amqp")]
#[tokio::test]
async fn a6_rabbitmq() {
    if !reachable(5672).await {
        return skip("a6_rabbitmq", "rabbitmq on 127.0.0.1:5672");
    }
    let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
    let t = AnyTransport::connect("amqp", Some(url)).await.unwrap();
    a3_on(t, "amqp").await;
}

#[cfg(feature = "sqs")]
#[tokio::test]
async fn a6_sqs() {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    if !reachable(5000).await {
        return skip("a6_sqs", "moto_server on 127.0.0.1:5000");
    }
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url("http://127.0.0.1:5000")
        .http_client(o11y::queue::sqs_http_client())
        .build();
    let options =
        o11y::queue::SqsOptions::default().with_visibility_timeout(Duration::from_secs(1));
    let sqs = o11y::queue::SqsTransport::new(aws_sdk_sqs::Client::from_conf(config), options);
    a3_on(AnyTransport::Sqs(sqs), "sqs").await;
}

/// A webhook that answers 503 to the first `failures` calls, then 200.
async fn webhook(failures: u32) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let router = Router::new().route(
        "/hook",
        post(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n <= failures {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    (format!("{}/hook", serve(router).await), calls)
}

#[tokio::test]
async fn a7_fails_twice_then_succeeds() {
    let shop = Shop::new();
    let queue = unique("a7");
    let (hook, calls) = webhook(2).await;
    let transport = AnyTransport::Memory(MemoryTransport::new());
    let running = start(&shop, transport, notify(&queue, Some(hook), 5)).await;
    let correlation = unique("corr");
    let order_id = place(&running, &correlation).await;

    let q = queue.clone();
    let spans = shop.spans(move |s| attempts(s, &q).len() == 3).await;
    let tries = attempts(&spans, &queue);
    let producer = span(
        &spans,
        "order-service",
        SpanKind::Producer,
        &format!("send {queue}"),
    );
    let outcomes: Vec<_> = tries
        .iter()
        .map(|s| s.attr_str("o11y.messaging.outcome"))
        .collect();
    assert_eq!(
        outcomes,
        [
            Some("retry".into()),
            Some("retry".into()),
            Some("ack".into())
        ]
    );
    assert_eq!(
        tries.iter().map(|s| attempt(s)).collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3)]
    );
    for (i, t) in tries.iter().enumerate() {
        assert_child(t, producer);
        assert_eq!(t.kind(), SpanKind::Consumer);
        assert_eq!(t.is_error(), i < 2, "attempt {} failed: {}", i + 1, i < 2);
        let hook_call = spans
            .iter()
            .find(|s| s.kind() == SpanKind::Client && s.parent_id() == t.span_id())
            .expect("each attempt calls the webhook");
        assert_eq!(hook_call.is_error(), i < 2, "the webhook's 503 is an error");
    }
    assert_eq!(
        tries[0].attr_str("error.type").as_deref(),
        Some("handler_error")
    );
    // Backoff from the policy: 50 ms, then 100 ms.
    assert_eq!(event_i64(tries[0], "retry", "delay_ms"), Some(50));
    assert_eq!(event_i64(tries[1], "retry", "delay_ms"), Some(100));
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let trace = producer.trace_id();
    let lines = lines_of(trace);
    let logged = |message: &str, attempt: u32| {
        lines.iter().any(|l| {
            l["target"] == "shop::notifications"
                && l["message"] == message
                && l["attempt"] == attempt
                && l["correlation_id"] == correlation.as_str()
        })
    };
    assert!(logged("confirmation not sent", 1), "{lines:#?}");
    assert!(logged("confirmation not sent", 2), "{lines:#?}");
    assert!(logged("order confirmation sent", 3), "{lines:#?}");

    let n = &running.notifications;
    assert_eq!(metric(n, "notifications_failed_total", &[]).await, 2.0);
    assert_eq!(metric(n, "notifications_sent_total", &[]).await, 1.0);
    assert_eq!(
        metric(n, "notification_processing_duration_seconds_count", &[]).await,
        3.0
    );
    let (_, list) = send(
        Method::GET,
        &format!("{n}/api/notifications"),
        "check",
        None,
    )
    .await;
    assert_eq!(
        list,
        json!([{"order_id": order_id, "email": "ada@example.com", "attempt": 3}])
    );
    running.stop().await;
}

#[tokio::test]
async fn a7_dead_lettered_after_the_last_attempt() {
    let shop = Shop::new();
    let queue = unique("a7_dlq");
    let (hook, _) = webhook(u32::MAX).await;
    let memory = MemoryTransport::new();
    let transport = AnyTransport::Memory(memory.clone());
    let running = start(&shop, transport, notify(&queue, Some(hook), 3)).await;
    let correlation = unique("corr");
    let order_id = place(&running, &correlation).await;

    let q = queue.clone();
    let spans = shop
        .spans(move |s| {
            attempts(s, &q)
                .iter()
                .any(|s| s.event("dead_letter").is_some())
        })
        .await;
    let tries = attempts(&spans, &queue);
    assert_eq!(tries.len(), 3, "{}", spans.render_tree());
    let outcomes: Vec<_> = tries
        .iter()
        .map(|s| s.attr_str("o11y.messaging.outcome"))
        .collect();
    assert_eq!(
        outcomes,
        [
            Some("retry".into()),
            Some("retry".into()),
            Some("dead_letter".into())
        ]
    );
    let last = tries[2];
    assert!(last.is_error());
    assert_eq!(attempt(last), Some(3));
    assert_eq!(event_i64(last, "dead_letter", "attempts"), Some(3));
    let dlq = memory.dead_letter_destination(&queue);
    let destination = last.event("dead_letter").and_then(|a| {
        a.iter()
            .find(|kv| kv.key.as_str() == "destination")
            .map(|kv| kv.value.to_string())
    });
    assert_eq!(destination.as_deref(), Some(dlq.as_str()));
    let n = &running.notifications;
    assert_eq!(metric(n, "notifications_failed_total", &[]).await, 3.0);
    assert_eq!(metric(n, "notifications_sent_total", &[]).await, 0.0);
    let trace = last.trace_id();
    assert_logged(trace, "shop::orders", "order placed", &correlation);
    running.stop().await;

    // Nothing lost: the message waits in the dead-letter queue, with why.
    let dead = tokio::time::timeout(PATIENCE, memory.receive(&dlq, 10))
        .await
        .expect("the dead letter arrives")
        .unwrap();
    assert_eq!(dead.len(), 1);
    let headers = &dead[0].message.headers;
    assert_eq!(
        headers.get(DEAD_LETTER_ATTEMPTS).map(String::as_str),
        Some("3")
    );
    let reason = headers.get(DEAD_LETTER_REASON).cloned().unwrap_or_default();
    assert!(reason.contains("webhook: status 503"), "{reason}");
    let event: shop::OrderCreated = serde_json::from_slice(&dead[0].message.payload).unwrap();
    assert_eq!(event.order_id, order_id);
}
