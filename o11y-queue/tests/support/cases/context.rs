//! Context carriage: parent, link, foreign messages, payload carriages.

use std::collections::BTreeSet;

use o11y_core::CorrelationId;
use o11y_queue::{Carriage, Message, Relation, Transport, semconv};
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt};

use super::{
    attr, consumer, fixture, forwarding, opened, producer, receive_raw, recv, spawn, traced,
};
use crate::support::{Harness, unique_queue, wait_spans};

pub async fn traced_publish_continues_in_consumer<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("traced");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let (system, native) = (t.system(), t.native_headers());
    let cx = traced(&provider, "order-42");
    producer(t.clone(), &provider)
        .publish_with_context(&cx, &q, "hello")
        .await
        .unwrap();
    cx.span().end();
    let (handler, mut rx) = forwarding(&provider);
    let running = spawn(consumer(t, &provider), &q, handler);
    let (message, seen) = recv(&mut rx).await;
    assert_eq!(&message.payload[..], b"hello");
    assert_eq!(seen.as_ref().map(CorrelationId::as_str), Some("order-42"));
    let (send, process) = (format!("send {q}"), format!("process {q}"));
    let p = process.clone();
    let spans = wait_spans(&capture, move |s| {
        s.named(&p).len() == 1 && s.named("handle").len() == 1
    })
    .await;
    running.stop().await;

    spans.assert_single_trace();
    spans.assert_parent(&send, "request");
    spans.assert_parent(&process, &send);
    spans.assert_parent("handle", &process);
    let (s, c) = (spans.find(&send), spans.find(&process));
    assert_eq!(
        (s.kind(), c.kind()),
        (SpanKind::Producer, SpanKind::Consumer)
    );
    assert!(
        c.data
            .links
            .iter()
            .any(|l| l.span_context.span_id() == s.span_id()),
        "process links to send"
    );
    for (span, op) in [(s, "send"), (c, "process")] {
        assert_eq!(attr(span, semconv::MESSAGING_SYSTEM), system);
        assert_eq!(attr(span, semconv::MESSAGING_DESTINATION_NAME), q);
        assert_eq!(attr(span, semconv::MESSAGING_OPERATION_NAME), op);
        assert_eq!(attr(span, semconv::MESSAGING_OPERATION_TYPE), op);
        assert_eq!(
            attr(span, semconv::MESSAGING_MESSAGE_CONVERSATION_ID),
            "order-42"
        );
        assert!(!span.is_error());
    }
    assert_eq!(
        attr(s, semconv::MESSAGING_MESSAGE_ID),
        attr(c, semconv::MESSAGING_MESSAGE_ID)
    );
    assert!(!attr(c, semconv::MESSAGING_MESSAGE_ID).is_empty());
    assert_eq!(attr(c, semconv::DELIVERY_ATTEMPT), "1");
    assert_eq!(attr(c, semconv::OUTCOME), "ack");
    assert_eq!(
        attr(c, semconv::CONTEXT_SOURCE),
        if native { "native" } else { "envelope" }
    );
}

pub async fn link_relation_starts_a_linked_trace<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("link");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let cx = traced(&provider, "corr-link");
    producer(t.clone(), &provider)
        .publish_with_context(&cx, &q, "x")
        .await
        .unwrap();
    cx.span().end();
    let (handler, mut rx) = forwarding(&provider);
    let running = spawn(
        consumer(t, &provider).with_relation(Relation::Link),
        &q,
        handler,
    );
    let (_, seen) = recv(&mut rx).await;
    assert_eq!(seen.as_ref().map(CorrelationId::as_str), Some("corr-link"));
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| {
        s.named(&p).len() == 1 && s.named("handle").len() == 1
    })
    .await;
    running.stop().await;

    let (s, c) = (
        spans.find(&format!("send {q}")),
        spans.find(&format!("process {q}")),
    );
    assert_ne!(c.trace_id(), s.trace_id());
    assert_eq!(c.parent_id(), SpanId::INVALID);
    assert!(
        c.data
            .links
            .iter()
            .any(|l| l.span_context.span_id() == s.span_id())
    );
    spans.assert_parent("handle", &format!("process {q}"));
    assert_eq!(
        attr(c, semconv::MESSAGING_MESSAGE_CONVERSATION_ID),
        "corr-link"
    );
}

pub async fn foreign_message_is_consumed_in_a_new_trace<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("foreign");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    t.publish(&q, Message::new("plain body, no headers"))
        .await
        .unwrap();
    let (handler, mut rx) = forwarding(&provider);
    let running = spawn(consumer(t, &provider), &q, handler);
    let (message, seen) = recv(&mut rx).await;
    assert_eq!(&message.payload[..], b"plain body, no headers");
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| {
        s.named(&p).len() == 1 && s.named("handle").len() == 1
    })
    .await;
    running.stop().await;

    let c = spans.find(&format!("process {q}"));
    assert_eq!(c.parent_id(), SpanId::INVALID);
    assert!(c.data.links.is_empty());
    // No id came with it: the handler's correlation id is the new trace's id.
    assert_eq!(
        seen.map(|id| id.to_string()),
        Some(c.trace_id().to_string())
    );
    assert_eq!(attr(c, semconv::CONTEXT_SOURCE), "none");
    assert_eq!(attr(c, semconv::OUTCOME), "ack");
    spans.assert_single_trace();
}

pub async fn json_trace_context_field_is_read<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("json");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let body = r#"{"order":7,"traceContext":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","x-trace-id":"node-1"}}"#;
    t.publish(&q, Message::new(body)).await.unwrap();
    let (handler, mut rx) = forwarding(&provider);
    let running = spawn(consumer(t, &provider), &q, handler);
    let (message, seen) = recv(&mut rx).await;
    assert_eq!(&message.payload[..], body.as_bytes());
    assert_eq!(seen.as_ref().map(CorrelationId::as_str), Some("node-1"));
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| s.named(&p).len() == 1).await;
    running.stop().await;

    let c = spans.find(&format!("process {q}"));
    assert_eq!(c.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(c.parent_id().to_string(), "00f067aa0ba902b7");
    assert_eq!(attr(c, semconv::CONTEXT_SOURCE), "json_field");
}

pub async fn producer_can_write_the_json_field_and_envelope<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("carriage");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let cx = traced(&provider, "corr-carriage");
    let trace = cx.span().span_context().trace_id().to_string();
    let json = producer(t.clone(), &provider).with_carriage(Carriage::JsonField);
    json.publish_with_context(&cx, &q, r#"{"a":1}"#)
        .await
        .unwrap();
    let env = producer(t.clone(), &provider).with_carriage(Carriage::Envelope);
    env.publish_with_context(&cx, &q, r#"{"a":2}"#)
        .await
        .unwrap();
    cx.span().end();

    // As delivered: on a transport without native headers both are in a
    // transport envelope, and the JSON form shows once that is opened.
    let (first, second) = (receive_raw(&t, &q).await, receive_raw(&t, &q).await);
    let is_json = |m: &Message| opened(&t, m.clone()).payload.starts_with(br#"{"a":1"#);
    let (json_raw, env_msg) = if is_json(&first) {
        (first, second)
    } else {
        (second, first)
    };
    let json_msg = opened(&t, json_raw);
    let body: serde_json::Value = serde_json::from_slice(&json_msg.payload).unwrap();
    assert_eq!(body["a"], 1);
    assert!(
        body["traceContext"]["traceparent"]
            .as_str()
            .unwrap()
            .contains(&trace)
    );
    assert_eq!(body["traceContext"]["x-trace-id"], "corr-carriage");
    assert!(env_msg.payload.starts_with(b"o11y-envelope/1\n"));
    assert!(!env_msg.headers.contains_key("traceparent"));

    // Both forms, published again as plain bodies, continue the trace.
    t.publish(&q, Message::new(json_msg.payload)).await.unwrap();
    t.publish(&q, Message::new(env_msg.payload)).await.unwrap();
    let (handler, mut rx) = forwarding(&provider);
    let running = spawn(consumer(t, &provider), &q, handler);
    let mut payloads = BTreeSet::new();
    for _ in 0..2 {
        let (m, seen) = recv(&mut rx).await;
        assert_eq!(
            seen.as_ref().map(CorrelationId::as_str),
            Some("corr-carriage")
        );
        payloads.insert(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    assert!(
        payloads.contains(r#"{"a":2}"#),
        "envelope removed: {payloads:?}"
    );
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| s.named(&p).len() == 2).await;
    running.stop().await;
    let sources: BTreeSet<String> = spans
        .named(&format!("process {q}"))
        .iter()
        .map(|c| {
            assert_eq!(c.trace_id().to_string(), trace);
            attr(c, semconv::CONTEXT_SOURCE)
        })
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from(["envelope".to_owned(), "json_field".to_owned()])
    );
}
