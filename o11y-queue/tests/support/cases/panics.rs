//! Panics in a handler, before its future exists or inside it, are failed
//! attempts: retried, then acked once the handler succeeds, and the
//! consumer keeps running.

use std::time::Duration;

use o11y_queue::{
    DEAD_LETTER_ATTEMPTS, DEAD_LETTER_REASON, Incoming, RetryPolicy, Transport, semconv,
};
use opentelemetry::{
    Context,
    trace::{Status, TraceContextExt},
};
use tokio::sync::mpsc;

use super::{attr, consumer, fixture, producer, receive_one, recv, spawn, spawn_batches};
use crate::support::{Harness, unique_queue, wait_spans};

/// Whether the code calling this runs inside a span (the CONSUMER span).
fn in_span() -> bool {
    Context::current().span().span_context().is_valid()
}

pub async fn sync_and_async_panics_are_failed_attempts<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("panic");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    producer(t.clone(), &provider)
        .publish(&q, "job")
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Attempt 1 panics in the closure's body, before any future exists;
    // attempt 2 inside the future; attempt 3 succeeds.
    let handler = move |m: Incoming| {
        let _ = tx.send((m.attempt, in_span()));
        assert!(m.attempt != 1, "sync boom");
        async move {
            assert!(m.attempt != 2, "async boom");
            Ok::<_, String>(())
        }
    };
    let running = spawn(consumer(t.clone(), &provider), &q, handler);
    let seen = [
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    assert_eq!(
        seen,
        [(1, true), (2, true), (3, true)],
        "every attempt ran, each inside its CONSUMER span"
    );
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| s.named(&p).len() == 3).await;
    running.stop().await;

    let mut process = spans.named(&format!("process {q}"));
    process.sort_by_key(|s| attr(s, semconv::DELIVERY_ATTEMPT));
    let outcomes: Vec<String> = process.iter().map(|s| attr(s, semconv::OUTCOME)).collect();
    assert_eq!(outcomes, ["retry", "retry", "ack"]);
    for (span, text) in process.iter().zip(["sync boom", "async boom"]) {
        assert_eq!(attr(span, semconv::ERROR_TYPE), semconv::ERROR_PANIC);
        let Status::Error { description } = span.status() else {
            panic!("a panicking attempt is an error span");
        };
        assert!(description.contains(text), "{description}");
    }
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "acked once, nothing left"
    );
}

pub async fn batch_panics_are_failed_attempts<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("batch-panic");
    let _cleanup = h.cleanup(&q);
    let (_capture, provider) = fixture();
    producer(t.clone(), &provider)
        .publish(&q, "job")
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Attempt 1 panics before the future exists, every later one inside it.
    let handler = move |batch: Vec<Incoming>| {
        let attempt = batch.first().map_or(0, |m| m.attempt);
        let _ = tx.send((attempt, in_span()));
        assert!(attempt != 1, "sync batch boom");
        async move {
            assert!(attempt == 0, "async batch boom");
            Ok::<_, String>(())
        }
    };
    let c = consumer(t.clone(), &provider).with_retry(
        RetryPolicy::new(2).with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
    );
    let running = spawn_batches(c, &q, handler);
    let dead = receive_one(&t, &t.dead_letter_destination(&q)).await;
    let seen = [recv(&mut rx).await, recv(&mut rx).await];
    running.stop().await;
    assert_eq!(seen, [(1, true), (2, true)]);
    assert_eq!(&dead.payload[..], b"job");
    assert_eq!(dead.headers[DEAD_LETTER_ATTEMPTS], "2");
    assert!(
        dead.headers[DEAD_LETTER_REASON].contains("async batch boom"),
        "{:?}",
        dead.headers
    );
}
