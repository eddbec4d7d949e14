//! Batch consumption: one span per batch linking every message, one ack for
//! all, a retry (or dead letter) for each on failure.

use std::{collections::BTreeMap, time::Duration};

use o11y_queue::{DEAD_LETTER_ATTEMPTS, Incoming, RetryPolicy, Transport, semconv};
use opentelemetry::trace::{SpanId, TraceContextExt};
use tokio::sync::mpsc;

use super::{Running, attr, consumer, fixture, producer, receive_one, recv, spawn_with, traced};
use crate::support::{Harness, unique_queue, wait_spans};

/// Runs `run_batches_until` on its own task.
pub(super) fn spawn_batches<T: Transport, B: o11y_queue::BatchHandler>(
    consumer: o11y_queue::Consumer<T>,
    queue: &str,
    handler: B,
) -> Running {
    let queue = queue.to_owned();
    spawn_with(move |stopped| async move {
        consumer.run_batches_until(&queue, handler, stopped).await;
    })
}

pub async fn batch_links_every_message<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("batch");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let p = producer(t.clone(), &provider);
    // Three messages from three requests (three traces), one correlation id.
    let mut sends = BTreeMap::new();
    for i in 0..3 {
        let cx = traced(&provider, "corr-batch");
        let published = p
            .publish_with_context(&cx, &q, format!("m{i}"))
            .await
            .unwrap();
        cx.span().end();
        sends.insert(format!("m{i}"), published.id);
    }
    assert_eq!(sends.len(), 3);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |batch: Vec<Incoming>| {
        let tx = tx.clone();
        async move {
            let current = opentelemetry::Context::current();
            let span_id = current.span().span_context().span_id();
            for m in batch {
                let _ = tx.send((String::from_utf8(m.payload.to_vec()).unwrap(), span_id));
            }
            Ok::<_, String>(())
        }
    };
    let running = spawn_batches(consumer(t.clone(), &provider), &q, handler);
    let mut handled: BTreeMap<String, SpanId> = BTreeMap::new();
    while handled.len() < 3 {
        let (id, span) = recv(&mut rx).await;
        handled.insert(id, span);
    }
    let process = format!("process {q}");
    let batches: std::collections::HashSet<SpanId> = handled.values().copied().collect();
    let (p2, n) = (process.clone(), batches.len());
    let spans = wait_spans(&capture, move |s| s.named(&p2).len() == n).await;
    running.stop().await;

    let send_spans = spans.named(&format!("send {q}"));
    assert_eq!(send_spans.len(), 3);
    let mut linked = 0;
    for span in spans.named(&process) {
        assert!(
            batches.contains(&span.span_id()),
            "the handler ran inside its batch span"
        );
        let count: usize = attr(span, semconv::MESSAGING_BATCH_MESSAGE_COUNT)
            .parse()
            .unwrap();
        assert_eq!(span.data.links.len(), count, "one link per message");
        for link in span.data.links.iter() {
            let send = send_spans
                .iter()
                .find(|s| s.span_id() == link.span_context.span_id())
                .expect("each link points to a send span");
            let linked_id = link
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == semconv::MESSAGING_MESSAGE_ID)
                .map(|kv| kv.value.to_string());
            let sent_id = send.attr_str(semconv::MESSAGING_MESSAGE_ID);
            if sent_id.is_some() {
                assert_eq!(linked_id, sent_id, "the link carries the message id");
            }
        }
        if count > 1 {
            assert_eq!(
                span.parent_id(),
                SpanId::INVALID,
                "a batch starts its own trace"
            );
        } else {
            let send = span.data.links.first().unwrap().span_context.span_id();
            assert_eq!(span.parent_id(), send, "a batch of one is a child of send");
        }
        assert_eq!(
            attr(span, semconv::MESSAGING_MESSAGE_CONVERSATION_ID),
            "corr-batch"
        );
        assert_eq!(attr(span, semconv::OUTCOME), "ack");
        assert!(!span.is_error());
        linked += count;
    }
    assert_eq!(linked, 3, "every message linked from exactly one batch");
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "every batch acked"
    );
}

pub async fn batch_failure_retries_each_then_dead_letters<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("batch-poison");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let p = producer(t.clone(), &provider);
    for i in 0..2 {
        p.publish(&q, format!("p{i}")).await.unwrap();
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |batch: Vec<Incoming>| {
        let tx = tx.clone();
        async move {
            for m in &batch {
                let _ = tx.send(m.attempt);
            }
            Err::<(), _>("batch rejected".to_owned())
        }
    };
    let c = consumer(t.clone(), &provider).with_retry(
        RetryPolicy::new(2).with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
    );
    let running = spawn_batches(c, &q, handler);
    let dlq = t.dead_letter_destination(&q);
    let mut dead = [receive_one(&t, &dlq).await, receive_one(&t, &dlq).await];
    dead.sort_by(|a, b| a.payload.cmp(&b.payload));
    let mut attempts = Vec::new();
    while attempts.len() < 4 {
        attempts.push(recv(&mut rx).await);
    }
    attempts.sort_unstable();
    assert_eq!(attempts, [1, 1, 2, 2], "each message tried twice");
    let process = format!("process {q}");
    let p2 = process.clone();
    let spans = wait_spans(&capture, move |s| {
        let dead_letters = s.named(&p2).into_iter().map(|span| {
            let events = span.event_names();
            events
                .iter()
                .filter(|e| **e == semconv::EVENT_DEAD_LETTER)
                .count()
        });
        dead_letters.sum::<usize>() == 2
    })
    .await;
    running.stop().await;

    let payloads: Vec<&[u8]> = dead.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(payloads, [&b"p0"[..], &b"p1"[..]]);
    assert!(dead.iter().all(|m| m.headers[DEAD_LETTER_ATTEMPTS] == "2"));
    for span in spans.named(&process) {
        assert!(span.is_error());
        assert_eq!(attr(span, semconv::ERROR_TYPE), semconv::ERROR_HANDLER);
        let outcome = attr(span, semconv::OUTCOME);
        assert!(
            ["retry", "dead_letter", "mixed"].contains(&outcome.as_str()),
            "{outcome}"
        );
    }
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "nothing left after dead-lettering"
    );
}

/// A batch handler naming the one bad message (`BatchFailed`): only that
/// one is retried and dead-lettered, the others are acked once.
pub async fn batch_settles_per_message_when_told_which_failed<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("batch-partial");
    let _cleanup = h.cleanup(&q);
    let (_capture, provider) = fixture();
    let p = producer(t.clone(), &provider);
    for body in ["good-0", "bad", "good-1"] {
        p.publish(&q, body).await.unwrap();
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |batch: Vec<Incoming>| {
        let tx = tx.clone();
        async move {
            let mut failed = Vec::new();
            for (i, m) in batch.iter().enumerate() {
                let body = String::from_utf8(m.payload.to_vec()).unwrap();
                if body == "bad" {
                    failed.push(i);
                }
                let _ = tx.send(body);
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(o11y_queue::BatchFailed::new(failed, "bad message"))
            }
        }
    };
    let c = consumer(t.clone(), &provider).with_retry(
        RetryPolicy::new(2).with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
    );
    let running = spawn_batches(c, &q, handler);
    let dead = receive_one(&t, &t.dead_letter_destination(&q)).await;
    let mut seen = BTreeMap::<String, u32>::new();
    while seen.values().sum::<u32>() < 4 {
        *seen.entry(recv(&mut rx).await).or_default() += 1;
    }
    running.stop().await;
    assert_eq!(&dead.payload[..], b"bad");
    assert_eq!(dead.headers[DEAD_LETTER_ATTEMPTS], "2");
    let expected = BTreeMap::from([
        ("bad".to_owned(), 2),
        ("good-0".to_owned(), 1),
        ("good-1".to_owned(), 1),
    ]);
    assert_eq!(seen, expected, "the good ones handled once, acked");
    assert!(t.receive(&q, 10).await.unwrap().is_empty(), "nothing left");
}
