//! Failures: corrupt envelopes, retries, dead letters, crashes and stops.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use o11y_queue::{
    DEAD_LETTER_ATTEMPTS, DEAD_LETTER_REASON, Incoming, Message, RetryPolicy, Transport, semconv,
};
use opentelemetry::trace::TraceContextExt;
use tokio::sync::{Notify, mpsc};

use super::{attr, consumer, fixture, forwarding, producer, receive_one, recv, spawn, traced};
use crate::support::{Harness, PATIENCE, unique_queue, wait_spans};

pub async fn corrupt_envelope_is_dead_lettered_not_lost<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("corrupt");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let corrupt = b"o11y-envelope/1\n{\"traceparent\": broken".to_vec();
    t.publish(&q, Message::new(corrupt.clone())).await.unwrap();
    t.publish(&q, Message::new("after")).await.unwrap();
    let (handler, mut rx) = forwarding(&provider);
    let running = spawn(consumer(t.clone(), &provider), &q, handler);
    let (m, _) = recv(&mut rx).await;
    assert_eq!(
        &m.payload[..],
        b"after",
        "the handler never sees the corrupt payload"
    );
    let dead = receive_one(&t, &t.dead_letter_destination(&q)).await;
    assert_eq!(&dead.payload[..], &corrupt[..]);
    assert!(dead.headers[DEAD_LETTER_REASON].contains("envelope"));
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| s.named(&p).len() == 2).await;
    running.stop().await;
    let bad = spans
        .named(&format!("process {q}"))
        .into_iter()
        .find(|s| s.is_error())
        .expect("an error span for the corrupt message");
    assert_eq!(attr(bad, semconv::ERROR_TYPE), semconv::ERROR_ENVELOPE);
    assert_eq!(attr(bad, semconv::OUTCOME), "dead_letter");
    assert!(bad.event_names().contains(&semconv::EVENT_CORRUPT_ENVELOPE));
}

pub async fn fails_twice_then_succeeds<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("flaky");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    let cx = traced(&provider, "corr-flaky");
    producer(t.clone(), &provider)
        .publish_with_context(&cx, &q, "job")
        .await
        .unwrap();
    cx.span().end();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |m: Incoming| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(m.attempt);
            if m.attempt < 3 {
                Err(format!("boom {}", m.attempt))
            } else {
                Ok(())
            }
        }
    };
    let running = spawn(consumer(t.clone(), &provider), &q, handler);
    let attempts = [
        recv(&mut rx).await,
        recv(&mut rx).await,
        recv(&mut rx).await,
    ];
    assert_eq!(attempts, [1, 2, 3]);
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| s.named(&p).len() == 3).await;
    running.stop().await;

    spans.assert_single_trace();
    let mut process = spans.named(&format!("process {q}"));
    process.sort_by_key(|s| attr(s, semconv::DELIVERY_ATTEMPT));
    let outcomes: Vec<String> = process.iter().map(|s| attr(s, semconv::OUTCOME)).collect();
    assert_eq!(outcomes, ["retry", "retry", "ack"]);
    let errors: Vec<bool> = process.iter().map(|s| s.is_error()).collect();
    assert_eq!(errors, [true, true, false]);
    assert!(process[0].event_names().contains(&semconv::EVENT_RETRY));
    assert_eq!(
        attr(process[0], semconv::ERROR_TYPE),
        semconv::ERROR_HANDLER
    );
    let send = spans.find(&format!("send {q}"));
    assert!(
        process.iter().all(|s| s.parent_id() == send.span_id()),
        "each attempt is a child of send"
    );
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "acked once, nothing left"
    );
}

pub async fn always_failing_is_dead_lettered_after_n<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("poison");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    producer(t.clone(), &provider)
        .publish(&q, "poison")
        .await
        .unwrap();
    let handler = |_m: Incoming| async { Err::<(), _>("always broken".to_owned()) };
    let c = consumer(t.clone(), &provider).with_retry(
        RetryPolicy::new(3).with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
    );
    let running = spawn(c, &q, handler);
    let dead = receive_one(&t, &t.dead_letter_destination(&q)).await;
    assert_eq!(&dead.payload[..], b"poison");
    assert_eq!(dead.headers[DEAD_LETTER_ATTEMPTS], "3");
    assert!(dead.headers[DEAD_LETTER_REASON].contains("always broken"));
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| s.named(&p).len() == 3).await;
    running.stop().await;

    let mut process = spans.named(&format!("process {q}"));
    process.sort_by_key(|s| attr(s, semconv::DELIVERY_ATTEMPT));
    let outcomes: Vec<String> = process.iter().map(|s| attr(s, semconv::OUTCOME)).collect();
    assert_eq!(outcomes, ["retry", "retry", "dead_letter"]);
    assert!(process.iter().all(|s| s.is_error()));
    assert!(
        process[2]
            .event_names()
            .contains(&semconv::EVENT_DEAD_LETTER)
    );
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "nothing left after dead-lettering"
    );
}

pub async fn a_permanent_error_is_dead_lettered_at_once<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("permanent");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    producer(t.clone(), &provider)
        .publish(&q, "malformed")
        .await
        .unwrap();
    let handler = |_m: Incoming| async { Err::<(), _>(o11y_queue::Permanent::new("not an order")) };
    let c = consumer(t.clone(), &provider).with_retry(
        RetryPolicy::new(5).with_backoff(Duration::from_millis(5), Duration::from_millis(20)),
    );
    let running = spawn(c, &q, handler);
    let dead = receive_one(&t, &t.dead_letter_destination(&q)).await;
    assert_eq!(&dead.payload[..], b"malformed");
    assert_eq!(dead.headers[DEAD_LETTER_ATTEMPTS], "1", "no retry");
    assert!(dead.headers[DEAD_LETTER_REASON].contains("not an order"));
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| !s.named(&p).is_empty()).await;
    running.stop().await;
    let process = spans.named(&format!("process {q}"));
    assert_eq!(process.len(), 1, "one attempt");
    assert_eq!(attr(process[0], semconv::OUTCOME), "dead_letter");
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "nothing left after dead-lettering"
    );
}

pub async fn crash_mid_stream_then_restart_loses_nothing<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("restart");
    let _cleanup = h.cleanup(&q);
    let (_capture, provider) = fixture();
    let all: BTreeSet<String> = (0..12).map(|i| format!("m{i}")).collect();
    let p = producer(t.clone(), &provider);
    for id in &all {
        p.publish(&q, Message::new(id.clone())).await.unwrap();
    }
    // Consumer A handles a few messages, then hangs inside a handler and dies.
    let first = h.connect().await.expect("second connection");
    let handled = Arc::new(Mutex::new(BTreeSet::new()));
    let (stuck_tx, mut stuck_rx) = mpsc::unbounded_channel();
    let seen = handled.clone();
    let hang = move |m: Incoming| {
        let (seen, stuck_tx) = (seen.clone(), stuck_tx.clone());
        async move {
            let id = String::from_utf8(m.payload.to_vec()).unwrap();
            let count = {
                let mut seen = seen.lock().unwrap();
                seen.insert(id.clone());
                seen.len()
            };
            if count == 4 {
                let _ = stuck_tx.send(id);
                std::future::pending::<()>().await;
            }
            Ok::<_, String>(())
        }
    };
    let a = spawn(consumer(first.clone(), &provider), &q, hang);
    let stuck_id: String = recv(&mut stuck_rx).await;
    a.join.abort();
    let _ = a.join.await;
    h.crash(first).await;

    // Consumer B, a restarted process, must see everything A did not finish.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let b_handler = move |m: Incoming| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((String::from_utf8(m.payload.to_vec()).unwrap(), m.attempt));
            Ok::<_, String>(())
        }
    };
    let second = h.connect().await.expect("third connection");
    let b = spawn(
        consumer(second, &provider).with_concurrency(4),
        &q,
        b_handler,
    );
    let mut done: BTreeSet<String> = handled.lock().unwrap().clone();
    done.remove(&stuck_id);
    while done != all {
        let (id, attempt) = recv(&mut rx).await;
        if id == stuck_id {
            assert!(attempt >= 2, "the message A held is a redelivery");
        }
        done.insert(id);
    }
    b.stop().await;
    assert_eq!(done, all);
}

pub async fn graceful_stop_finishes_in_flight_work<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("graceful");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    producer(t.clone(), &provider)
        .publish(&q, "slow")
        .await
        .unwrap();
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let handler = move |_m: Incoming| {
        let (started_tx, gate) = (started_tx.clone(), gate.clone());
        async move {
            let _ = started_tx.send(());
            gate.notified().await;
            Ok::<_, String>(())
        }
    };
    let running = spawn(consumer(t.clone(), &provider), &q, handler);
    recv(&mut started_rx).await;
    let _ = running.stop.send(());
    release.notify_one();
    tokio::time::timeout(PATIENCE, running.join)
        .await
        .unwrap()
        .unwrap();
    // run_until returned only after the in-flight handler finished and acked.
    let c = capture.spans();
    let c = c.find(&format!("process {q}"));
    assert_eq!(attr(c, semconv::OUTCOME), "ack");
    assert!(!c.is_error());
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "acked, not redelivered"
    );
}

/// A handler that never finishes does not hold the shutdown: past the
/// deadline its future is dropped and its delivery released to the broker,
/// which hands it out again.
pub async fn shutdown_deadline_releases_unfinished_work<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("deadline");
    let _cleanup = h.cleanup(&q);
    let (_capture, provider) = fixture();
    producer(t.clone(), &provider)
        .publish(&q, "stuck")
        .await
        .unwrap();
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let handler = move |_m: Incoming| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
            Ok::<_, String>(())
        }
    };
    let c = consumer(t.clone(), &provider).with_shutdown_timeout(Duration::from_millis(200));
    let running = spawn(c, &q, handler);
    recv(&mut started_rx).await;
    // Returns (within PATIENCE) although the handler never does.
    running.stop().await;
    let again = receive_one(&t, &q).await;
    assert_eq!(&again.payload[..], b"stuck", "released, handed out again");
}

/// A handler slower than the broker's redelivery time (the harnesses use
/// 1 s) is not processed twice at once: the consumer extends the lease
/// while it runs. Two handler slots, so a redelivery would be picked up.
pub async fn slow_handler_keeps_its_lease<H: Harness>(h: &H, t: H::T) {
    let q = unique_queue("slow");
    let _cleanup = h.cleanup(&q);
    let (capture, provider) = fixture();
    producer(t.clone(), &provider)
        .publish(&q, "slow")
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |m: Incoming| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(m.attempt);
            // Work that outlasts the lease more than twice.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            Ok::<_, String>(())
        }
    };
    let running = spawn(
        consumer(t.clone(), &provider).with_concurrency(2),
        &q,
        handler,
    );
    assert_eq!(recv(&mut rx).await, 1);
    let p = format!("process {q}");
    let spans = wait_spans(&capture, move |s| s.named(&p).len() == 1).await;
    running.stop().await;
    assert!(
        rx.try_recv().is_err(),
        "handled once, never redelivered meanwhile"
    );
    let span = spans.find(&format!("process {q}"));
    assert_eq!(attr(span, semconv::OUTCOME), "ack");
    assert!(t.receive(&q, 10).await.unwrap().is_empty(), "acked");
}
