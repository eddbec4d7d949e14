//! The transport suite against SQS as served by `moto_server` on
//! 127.0.0.1:5000 (`O11Y_SQS_URL` overrides; `scripts/moto.sh` starts it).
#![cfg(feature = "sqs")]

mod support;

use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
use o11y_core::testing::Capture;
use o11y_queue::{Consumer, Incoming, Producer, SqsOptions, SqsTransport, Transport, semconv};
use opentelemetry::trace::{SpanId, TraceId};
use support::Harness;
use tokio::sync::{mpsc, oneshot};

struct Sqs;

use support::sqs_client as client;

impl Harness for Sqs {
    type T = SqsTransport;
    const NAME: &'static str = "sqs (moto)";

    async fn connect(&self) -> Option<SqsTransport> {
        let client = client();
        // Reachability: one cheap call.
        client.list_queues().max_results(1).send().await.ok()?;
        let options = SqsOptions::default()
            .with_wait(Duration::from_secs(1))
            .with_visibility_timeout(Duration::from_secs(1));
        Some(SqsTransport::new(client, options))
    }

    fn cleanup(&self, queue: &str) -> support::Cleanup {
        support::cleanup::sqs(client, queue)
    }
}

/// A message sent by an X-Ray-instrumented producer (the `AWSTraceHeader`
/// system attribute, no message attributes) continues that trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_trace_header_is_read_as_the_parent() {
    let Some(t) = support::connect_or_skip(&Sqs, "aws_trace_header_is_read_as_the_parent").await
    else {
        return;
    };
    let q = support::unique_queue("xray");
    let _cleanup = Sqs.cleanup(&q);
    let url = t.queue_url(&q).await.unwrap();
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let value = MessageSystemAttributeValue::builder()
        .data_type("String")
        .string_value(header)
        .build()
        .unwrap();
    client()
        .send_message()
        .queue_url(&url)
        .message_body("from x-ray")
        .message_system_attributes(MessageSystemAttributeNameForSends::AwsTraceHeader, value)
        .send()
        .await
        .unwrap();
    let capture = Capture::new();
    let provider = capture.provider("svc");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = Consumer::new(t).with_tracer_provider(&provider);
    let (stop, stopped) = oneshot::channel::<()>();
    let queue = q.clone();
    let join = tokio::spawn(async move {
        let handler = move |m: Incoming| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(m.payload);
                Ok::<_, String>(())
            }
        };
        consumer
            .run_until(&queue, handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    let payload = tokio::time::timeout(support::PATIENCE, rx.recv())
        .await
        .expect("the message arrives")
        .unwrap();
    assert_eq!(&payload[..], b"from x-ray");
    let process = format!("process {q}");
    let spans = support::wait_spans(&capture, move |s| s.named(&process).len() == 1).await;
    let _ = stop.send(());
    join.await.unwrap();
    let span = spans.find(&format!("process {q}"));
    assert_eq!(
        span.trace_id(),
        TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap()
    );
    assert_eq!(
        span.parent_id(),
        SpanId::from_hex("53995c3f42cd8ad8").unwrap()
    );
    assert_eq!(
        span.attr_str(semconv::CONTEXT_SOURCE).as_deref(),
        Some("native")
    );
    assert_eq!(span.attr_str(semconv::AWS_SQS_QUEUE_URL), Some(url));
}

/// Both spans name the queue URL (`aws.sqs.queue.url`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_carry_the_queue_url() {
    let Some(t) = support::connect_or_skip(&Sqs, "spans_carry_the_queue_url").await else {
        return;
    };
    let q = support::unique_queue("url");
    let _cleanup = Sqs.cleanup(&q);
    let capture = Capture::new();
    let provider = capture.provider("svc");
    Producer::new(t.clone())
        .with_tracer_provider(&provider)
        .publish(&q, "x")
        .await
        .unwrap();
    let url = t.queue_url(&q).await.unwrap();
    assert!(url.ends_with(&q), "{url}");
    let send = capture.spans();
    let send = send.find(&format!("send {q}"));
    assert_eq!(send.attr_str(semconv::AWS_SQS_QUEUE_URL), Some(url.clone()));
    let delivery = loop {
        if let Some(d) = t.receive(&q, 1).await.unwrap().pop() {
            break d;
        }
    };
    let attrs = t.delivery_attributes(&delivery);
    assert!(attrs.iter().any(|kv| {
        kv.key.as_str() == semconv::AWS_SQS_QUEUE_URL && kv.value.to_string() == url
    }));
    t.ack(&q, &delivery).await.unwrap();
}

suite!(Sqs);

/// Found by the `sqs_attributes` fuzz target (docs/fuzzing.md), through the
/// real server: header names keep their case, and a standard field SQS would
/// refuse as an attribute (empty, or a character outside XML's) still
/// arrives, packed, instead of being dropped or failing the send.
#[tokio::test]
async fn headers_survive_sqs_as_given() {
    let Some(t) = support::connect_or_skip(&Sqs, "headers_survive_sqs_as_given").await else {
        return;
    };
    let q = support::unique_queue("as-given");
    let _cleanup = Sqs.cleanup(&q);
    let message = o11y_queue::Message::new("x")
        .with_header("X-Tenant", "acme")
        .with_header("x-tenant", "other")
        .with_header("tracestate", "")
        .with_header("x-trace-id", "id\u{1}\u{FFFF}")
        .with_header("baggage", "k=v");
    let sent = message.headers.clone();
    t.publish(&q, message).await.expect("SQS takes it");
    let mut delivery = None;
    for _ in 0..20 {
        if let Some(d) = t.receive(&q, 1).await.unwrap().pop() {
            delivery = Some(d);
            break;
        }
    }
    let delivery = delivery.expect("the message within 20 receives");
    assert_eq!(delivery.message.headers, sent);
    t.ack(&q, &delivery).await.unwrap();
}

/// What OpenTelemetry's SQS instrumentations in other languages read: the
/// producer writes `traceparent`, `baggage` and the correlation id as
/// `String` message attributes of their own (read back here with the plain
/// SDK, as a Node.js or Python consumer would), an application header in the
/// packed one, and a message carrying only a `traceparent` attribute (as
/// those instrumentations write it) is continued by our consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_trace_attributes_are_written_and_read() {
    use o11y_core::{CorrelationContextExt as _, CorrelationId};
    use opentelemetry::{
        Context, KeyValue,
        baggage::BaggageExt as _,
        trace::{TraceContextExt as _, Tracer as _, TracerProvider as _},
    };

    let Some(t) = support::connect_or_skip(&Sqs, "standard_trace_attributes").await else {
        return;
    };
    let q = support::unique_queue("w3c-attrs");
    let _cleanup = Sqs.cleanup(&q);
    let capture = Capture::new();
    let provider = capture.provider("svc");
    let parent = Context::new()
        .with_correlation_id(CorrelationId::parse("corr-sqs").unwrap())
        .with_baggage([KeyValue::new("tenant", "acme")]);
    let request = provider
        .tracer("test")
        .start_with_context("request", &parent);
    let cx = parent.with_span(request);
    let message = o11y_queue::Message::new("hello").with_header("x-app", "kept");
    Producer::new(t.clone())
        .with_tracer_provider(&provider)
        .publish_with_context(&cx, &q, message)
        .await
        .unwrap();
    let url = t.queue_url(&q).await.unwrap();
    let got = client()
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let m = got.messages().first().expect("the message");
    let attrs = m.message_attributes().expect("attributes");
    let text = |name: &str| {
        let a = attrs
            .get(name)
            .unwrap_or_else(|| panic!("{name} in {attrs:?}"));
        assert_eq!(a.data_type(), "String");
        a.string_value().unwrap().to_owned()
    };
    let send = capture.spans();
    let send = send.find(&format!("send {q}"));
    let tp = text("traceparent");
    assert_eq!(
        tp,
        format!("00-{}-{}-01", send.trace_id(), send.span_id()),
        "the send span is the remote parent"
    );
    assert!(text("baggage").contains("tenant=acme"));
    assert_eq!(text("x-trace-id"), "corr-sqs");
    assert!(text(o11y_queue::SQS_PACKED_ATTRIBUTE).contains("x-app"));
    assert!(attrs.len() <= 5, "{attrs:?}");
    client()
        .delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .unwrap();

    // A message as another language's instrumentation sends it.
    let foreign_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let value = aws_sdk_sqs::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(foreign_parent)
        .build()
        .unwrap();
    client()
        .send_message()
        .queue_url(&url)
        .message_body("from node")
        .message_attributes("traceparent", value)
        .send()
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |m: Incoming| {
        let _ = tx.send(m.payload);
        async { Ok::<_, String>(()) }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let consumer = Consumer::new(t.clone()).with_tracer_provider(&provider);
    let queue = q.clone();
    let join = tokio::spawn(async move {
        consumer
            .run_until(&queue, handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    let payload = tokio::time::timeout(support::PATIENCE, rx.recv())
        .await
        .expect("the message arrives")
        .unwrap();
    assert_eq!(&payload[..], b"from node");
    let process = format!("process {q}");
    let spans = support::wait_spans(&capture, move |s| s.named(&process).len() == 1).await;
    let _ = stop.send(());
    join.await.unwrap();
    let span = spans.find(&format!("process {q}"));
    assert_eq!(
        span.trace_id(),
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
    );
    assert_eq!(
        span.parent_id(),
        SpanId::from_hex("b7ad6b7169203331").unwrap()
    );
}

/// A dead-letter queue is created with SQS's longest retention, 14 days
/// (not the 4-day default), so dead letters outlive a long weekend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_queues_keep_messages_fourteen_days() {
    use aws_sdk_sqs::types::QueueAttributeName;

    let Some(t) = support::connect_or_skip(&Sqs, "dead_letter_queue_retention").await else {
        return;
    };
    let q = support::unique_queue("dlq-retention");
    let _cleanup = Sqs.cleanup(&q);
    Producer::new(t.clone())
        .publish(&q, "poison")
        .await
        .unwrap();
    let delivery = loop {
        if let Some(d) = t.receive(&q, 1).await.unwrap().pop() {
            break d;
        }
    };
    t.dead_letter(&q, &delivery, "bad").await.unwrap();
    let dlq = t.queue_url(&t.dead_letter_destination(&q)).await.unwrap();
    let attrs = client()
        .get_queue_attributes()
        .queue_url(dlq)
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .send()
        .await
        .unwrap();
    let retention = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::MessageRetentionPeriod))
        .cloned();
    assert_eq!(retention.as_deref(), Some("1209600"));
}
