//! Broker faults in the middle of a run: RabbitMQ closing every connection
//! (`rabbitmqctl close_all_connections`), Redis killing the consumer's
//! clients (`CLIENT KILL ID`), a deleted retry queue. Every message is
//! processed at least once, none is stranded; duplicates are counted and
//! printed (`cargo test -p o11y-queue --all-features --test faults -- --nocapture`).

// The suite's cases are not run here, only its helpers.
#[allow(unused_imports)]
mod support;

use std::{
    collections::HashMap,
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{StreamExt as _, stream};
use o11y_queue::{Consumer, Incoming, Producer, RetryPolicy, Transport};
use support::{Harness, connect_or_skip, unique_queue};
use tokio::{sync::oneshot, time::Instant};

/// Messages in each run.
const RUN: usize = 10_000;
/// The bound on one run.
const DEADLINE: Duration = Duration::from_secs(120);

/// How often each message was handled.
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<HashMap<String, u32>>>);

impl Tally {
    fn add(&self, id: String) -> usize {
        let mut seen = self.0.lock().unwrap();
        *seen.entry(id).or_default() += 1;
        seen.len()
    }

    fn distinct(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// (distinct messages, duplicate deliveries handled).
    fn figures(&self) -> (usize, u32) {
        let seen = self.0.lock().unwrap();
        let dups = seen.values().map(|n| n - 1).sum();
        (seen.len(), dups)
    }
}

/// Publishes `RUN` messages (`0` to `RUN - 1`), 64 at a time.
async fn publish_run<T: Transport + Clone>(t: &T, q: &str) {
    let producer = Producer::new(t.clone());
    let sends = stream::iter(0..RUN)
        .map(|i| {
            let producer = &producer;
            async move { producer.publish(q, i.to_string()).await }
        })
        .buffer_unordered(64);
    let results: Vec<_> = sends.collect().await;
    assert!(results.iter().all(Result::is_ok), "every publish confirmed");
}

/// Consumes `q` with `t` while `fault` runs once a third of the run was
/// handled; returns once every message was handled, after a graceful stop.
/// Then checks that nothing is left, waiting `redelivery` for what the
/// broker would hand out again.
async fn run_through_fault<T, F>(
    name: &str,
    t: T,
    check: T,
    q: &str,
    redelivery: Duration,
    fault: F,
) where
    T: Transport + Clone,
    F: FnOnce(),
{
    let deadline = Instant::now() + DEADLINE;
    let started = Instant::now();
    publish_run(&check, q).await;
    let tally = Tally::default();
    let (third_tx, third) = oneshot::channel();
    let third_tx = Mutex::new(Some(third_tx));
    let seen = tally.clone();
    let handler = move |m: Incoming| {
        let distinct = seen.add(String::from_utf8_lossy(&m.payload).into_owned());
        if distinct >= RUN / 3
            && let Some(tx) = third_tx.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
        async { Ok::<_, String>(()) }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let consumer = Consumer::new(t).with_concurrency(32).with_retry(
        RetryPolicy::new(10).with_backoff(Duration::from_millis(10), Duration::from_millis(100)),
    );
    let queue = q.to_owned();
    let running = tokio::spawn(async move {
        consumer
            .run_until(&queue, handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    tokio::time::timeout_at(deadline, third)
        .await
        .expect("a third of the run handled in time")
        .unwrap();
    fault();
    while tally.distinct() < RUN {
        assert!(
            Instant::now() < deadline,
            "{name}: {} of {RUN} handled in time",
            tally.distinct()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    tokio::time::timeout_at(deadline, running)
        .await
        .expect("the consumer stopped")
        .unwrap();
    let (distinct, duplicates) = tally.figures();
    let took = started.elapsed();
    // Nothing stranded: past the broker's redelivery time, nothing is left.
    let quiet = Instant::now() + redelivery + Duration::from_millis(500);
    let mut left = 0;
    while Instant::now() < quiet {
        for d in check.receive(q, 100).await.unwrap() {
            left += 1;
            check.ack(q, &d).await.unwrap();
        }
    }
    println!(
        "FAULT RUN {name}: sent {RUN}, processed {distinct}, duplicates {duplicates}, \
         dead-lettered 0, lost {}, left in queue {left}, {:.1} s",
        RUN - distinct,
        took.as_secs_f64()
    );
    assert_eq!(distinct, RUN, "{name}: every message processed");
    assert_eq!(left, 0, "{name}: nothing stranded");
    let dead = check
        .receive(&check.dead_letter_destination(q), 10)
        .await
        .unwrap();
    assert!(dead.is_empty(), "{name}: nothing dead-lettered");
}

#[cfg(feature = "amqp")]
mod rabbit {
    use std::time::Duration;

    use o11y_queue::{AmqpOptions, AmqpTransport};

    use super::Harness;

    pub fn url() -> String {
        std::env::var("O11Y_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
    }

    pub struct Amqp;

    impl Harness for Amqp {
        type T = AmqpTransport;
        const NAME: &'static str = "rabbitmq";
        async fn connect(&self) -> Option<AmqpTransport> {
            let options = AmqpOptions::default().with_poll(Duration::from_millis(200));
            AmqpTransport::connect(&url(), options).await.ok()
        }
    }
}

#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_closing_every_connection_mid_run_loses_nothing() {
    let h = rabbit::Amqp;
    let Some(check) = connect_or_skip(&h, "rabbitmq close_all_connections").await else {
        return;
    };
    let consumer = h.connect().await.expect("second connection");
    let q = unique_queue("fault-amqp");
    let close = || {
        let out = Command::new("rabbitmqctl")
            .args(["close_all_connections", "o11y fault test"])
            .output()
            .expect("rabbitmqctl runs");
        assert!(out.status.success(), "rabbitmqctl: {out:?}");
        let said = String::from_utf8_lossy(&out.stdout);
        // Both of this test's connections (at least) were closed.
        let closed = said
            .split_whitespace()
            .skip_while(|w| *w != "Closed")
            .nth(1)
            .and_then(|n| n.parse::<u32>().ok());
        assert!(closed >= Some(2), "{said}");
    };
    run_through_fault(
        "rabbitmq",
        consumer,
        check,
        &q,
        Duration::from_secs(1),
        close,
    )
    .await;
}
