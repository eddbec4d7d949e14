//! Broker faults in the middle of a run: RabbitMQ closing every connection
//! (`rabbitmqctl close_all_connections`) or stopping and starting its app
//! (`rabbitmqctl stop_app`, `start_app`), Redis killing the consumer's
//! clients (`CLIENT KILL ID`), a deleted retry queue, a memory alarm
//! blocking publishers. Every message is processed at least once, none is
//! stranded; duplicates are counted and printed
//! (`cargo test -p o11y-queue --all-features --test faults -- --nocapture`).
//! Whatever a test does to the broker, it undoes before it ends, passed or
//! failed (drop guards).

// The suite's cases are not run here, only its helpers.
#[allow(unused_imports)]
mod support;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{StreamExt as _, stream};
use o11y_queue::{Consumer, Incoming, Producer, RetryPolicy, Transport};
use support::{Harness, connect_or_skip, rabbitmq, unique_queue};
use tokio::{sync::oneshot, time::Instant};

/// The faults hit every connection of the broker (or of the consumer):
/// the tests of this binary run one at a time, so that one test's fault
/// does not land in another's run.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// Consumes `q` with `t` while `fault` runs (off the runtime's threads)
/// once a third of the run was handled; returns once every message was
/// handled, after a graceful stop. Then checks that nothing is left,
/// waiting `redelivery` for what the broker would hand out again, and that
/// nothing was dead-lettered.
async fn run_through_fault<T, F>(
    name: &str,
    t: T,
    check: T,
    q: &str,
    redelivery: Duration,
    fault: F,
) where
    T: Transport + Clone,
    F: FnOnce() + Send + 'static,
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
    tokio::task::spawn_blocking(fault)
        .await
        .expect("the fault was injected");
    while tally.distinct() < RUN {
        assert!(
            Instant::now() < deadline,
            "{name}: {} of {RUN} handled in time",
            tally.distinct()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What the fault left unsettled (an ack whose connection died) comes
    // back within the broker's redelivery time: let the consumer settle it.
    // (A wait on the broker's timer, not on our own work.)
    tokio::time::sleep(redelivery * 2 + Duration::from_millis(500)).await;
    let _ = stop.send(());
    tokio::time::timeout_at(deadline, running)
        .await
        .expect("the consumer stopped")
        .unwrap();
    let (distinct, duplicates) = tally.figures();
    let took = started.elapsed();
    // Nothing stranded: the consumer ran through a redelivery time after the
    // last message, so whatever the broker still hands out was stranded.
    let quiet = Instant::now() + redelivery + Duration::from_millis(500);
    let mut left = 0;
    while Instant::now() < quiet {
        for d in check.receive(q, 100).await.unwrap() {
            left += 1;
            check.ack(q, &d).await.unwrap();
        }
    }
    let dlq = check.dead_letter_destination(q);
    let mut dead = 0;
    loop {
        let batch = check.receive(&dlq, 100).await.unwrap();
        if batch.is_empty() {
            break;
        }
        dead += batch.len();
        for d in &batch {
            check.ack(&dlq, d).await.unwrap();
        }
    }
    println!(
        "FAULT RUN {name}: sent {RUN}, processed {distinct}, duplicates {duplicates}, \
         dead-lettered {dead}, lost {}, left in queue {left}, {:.1} s",
        RUN - distinct,
        took.as_secs_f64()
    );
    assert_eq!(distinct, RUN, "{name}: every message processed");
    assert_eq!(left, 0, "{name}: nothing stranded");
    assert_eq!(dead, 0, "{name}: nothing dead-lettered");
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
        fn cleanup(&self, queue: &str) -> crate::support::Cleanup {
            crate::support::cleanup::amqp(&url(), queue)
        }
    }
}

#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_closing_every_connection_mid_run_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let h = rabbit::Amqp;
    let Some(check) = connect_or_skip(&h, "rabbitmq close_all_connections").await else {
        return;
    };
    let consumer = h.connect().await.expect("second connection");
    let q = unique_queue("fault-amqp");
    let _cleanup = h.cleanup(&q);
    let close = || {
        let said = rabbitmq::ctl(&["close_all_connections", "o11y fault test"], 60)
            .expect("rabbitmqctl close_all_connections");
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

/// The RabbitMQ app stopped and started again mid-run (`rabbitmqctl
/// stop_app`, `start_app`): connections refused for as long as it is down,
/// the quorum queue's messages kept on disk. The consumer reconnects with
/// backoff and every message is processed; what was unacked when the app
/// stopped comes back (duplicates). The app is started again by a drop
/// guard, whatever happens.
#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_app_stop_and_start_mid_run_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let h = rabbit::Amqp;
    let Some(check) = connect_or_skip(&h, "rabbitmq stop_app and start_app").await else {
        return;
    };
    let consumer = h.connect().await.expect("second connection");
    let q = unique_queue("fault-amqp-restart");
    let _cleanup = h.cleanup(&q);
    let bounce = || {
        let stopped = rabbitmq::AppStopped::stop();
        drop(stopped);
    };
    run_through_fault(
        "rabbitmq stop_app/start_app",
        consumer,
        check,
        &q,
        Duration::from_secs(1),
        bounce,
    )
    .await;
}

/// A memory alarm blocks every publishing connection: the broker stops
/// reading it, no confirm comes. `publish` returns an error once
/// `AmqpOptions::confirm_timeout` passed (2 s here; 10 s by default)
/// instead of hanging the request that sends. Once the alarm clears, sends
/// succeed again and every confirmed message is in the queue. The
/// watermark is set back by a drop guard, whatever happens.
#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_memory_alarm_bounds_the_confirm_wait() {
    use std::collections::BTreeSet;

    use o11y_queue::{AmqpOptions, AmqpTransport};

    const BOUND: Duration = Duration::from_secs(2);
    let _serial = SERIAL.lock().await;
    let Some(_) = connect_or_skip(&rabbit::Amqp, "rabbitmq memory alarm").await else {
        return;
    };
    let options = AmqpOptions::default()
        .with_poll(Duration::from_millis(200))
        .with_confirm_timeout(BOUND);
    let t = AmqpTransport::connect(&rabbit::url(), options)
        .await
        .unwrap();
    let q = unique_queue("memory-alarm");
    let _cleanup = rabbit::Amqp.cleanup(&q);
    let producer = Producer::new(t.clone());
    // Declared and confirmed before the alarm.
    producer.publish(&q, "before").await.unwrap();
    let mut confirmed = BTreeSet::from(["before".to_owned()]);

    let alarm = tokio::task::spawn_blocking(rabbitmq::MemoryAlarm::raise)
        .await
        .unwrap();
    let deadline = Instant::now() + DEADLINE;
    while !tokio::task::spawn_blocking(rabbitmq::memory_alarm_on)
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the memory alarm went off");
    }
    let started = Instant::now();
    let blocked = tokio::time::timeout(BOUND * 10, producer.publish(&q, "during"))
        .await
        .expect("publish returned instead of hanging");
    let waited = started.elapsed();
    let error = blocked
        .expect_err("no confirm while the alarm is on")
        .to_string();
    assert!(error.contains("no publisher confirm"), "{error}");
    tokio::task::spawn_blocking(move || drop(alarm))
        .await
        .unwrap();
    while tokio::task::spawn_blocking(rabbitmq::memory_alarm_on)
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the memory alarm cleared");
    }

    for i in 0..10 {
        let body = format!("after-{i}");
        producer
            .publish(&q, body.clone())
            .await
            .expect("sends succeed once the alarm cleared");
        confirmed.insert(body);
    }
    // Every confirmed message is there; the unconfirmed one may be too (the
    // broker read it once unblocked): at least once, never a silent loss.
    let mut got = BTreeSet::new();
    while !confirmed.is_subset(&got) {
        assert!(
            Instant::now() < deadline,
            "confirmed messages missing: {:?}",
            confirmed.difference(&got).collect::<Vec<_>>()
        );
        for d in t.receive(&q, 100).await.unwrap() {
            got.insert(String::from_utf8_lossy(&d.message.payload).into_owned());
            t.ack(&q, &d).await.unwrap();
        }
    }
    // The unconfirmed publish, if the broker took it, is in the queue by now
    // or in the next poll.
    for d in t.receive(&q, 100).await.unwrap() {
        got.insert(String::from_utf8_lossy(&d.message.payload).into_owned());
        t.ack(&q, &d).await.unwrap();
    }
    let lost = confirmed.difference(&got).count();
    println!(
        "MEMORY ALARM: publish failed after {:.1} s (bound {BOUND:?}): {error}; \
         sent {}, confirmed {}, failed 1 (in the queue anyway: {}), lost {lost}",
        waited.as_secs_f64(),
        confirmed.len() + 1,
        confirmed.len(),
        got.contains("during"),
    );
    assert_eq!(lost, 0);
}

#[cfg(feature = "redis")]
mod redis_brokers {
    use std::{collections::BTreeSet, process::Command, time::Duration};

    use o11y_queue::{RedisListTransport, RedisOptions, RedisTransport};

    use super::Harness;

    fn url() -> String {
        std::env::var("O11Y_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    pub fn options() -> RedisOptions {
        RedisOptions::default()
            .with_claim_idle(Duration::from_secs(1))
            .with_block(Duration::from_millis(200))
    }

    pub struct Streams;

    impl Harness for Streams {
        type T = RedisTransport;
        const NAME: &'static str = "redis";
        async fn connect(&self) -> Option<RedisTransport> {
            RedisTransport::connect(&url(), options()).await.ok()
        }
        fn cleanup(&self, queue: &str) -> crate::support::Cleanup {
            crate::support::cleanup::redis(&url(), queue)
        }
    }

    pub struct Lists;

    impl Harness for Lists {
        type T = RedisListTransport;
        const NAME: &'static str = "redis (lists)";
        async fn connect(&self) -> Option<RedisListTransport> {
            RedisListTransport::connect(&url(), options()).await.ok()
        }
        fn cleanup(&self, queue: &str) -> crate::support::Cleanup {
            crate::support::cleanup::redis(&url(), queue)
        }
    }

    fn redis_cli(args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", "6379"])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(out.status.success(), "redis-cli: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The ids of the clients connected now.
    pub fn client_ids() -> BTreeSet<String> {
        redis_cli(&["CLIENT", "LIST"])
            .lines()
            .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
            .map(str::to_owned)
            .collect()
    }

    /// Kills every client connected since `before` (the consumer's).
    pub fn kill_since(before: &BTreeSet<String>) {
        let ids: Vec<String> = client_ids().difference(before).cloned().collect();
        assert!(!ids.is_empty(), "the consumer has connections to kill");
        // One id per command: older servers AND several filters together.
        let killed: usize = ids
            .iter()
            .map(|id| {
                let said = redis_cli(&["CLIENT", "KILL", "ID", id]);
                said.trim().parse::<usize>().unwrap_or(0)
            })
            .sum();
        assert!(killed >= 1, "killed {killed} of {ids:?}");
    }
}

#[cfg(feature = "redis")]
async fn redis_kill_mid_run<H: Harness>(h: H, name: &str) {
    let Some(check) = connect_or_skip(&h, name).await else {
        return;
    };
    // Connections opened from here on are the consumer's.
    let before = redis_brokers::client_ids();
    let consumer = h.connect().await.expect("second connection");
    let q = unique_queue(&format!("fault-{}", H::NAME.replace(' ', "-")));
    let _cleanup = h.cleanup(&q);
    let kill = move || redis_brokers::kill_since(&before);
    run_through_fault(name, consumer, check, &q, Duration::from_secs(1), kill).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_client_kill_mid_run_loses_nothing() {
    let _serial = SERIAL.lock().await;
    redis_kill_mid_run(redis_brokers::Streams, "redis streams").await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lists_client_kill_mid_run_loses_nothing() {
    let _serial = SERIAL.lock().await;
    redis_kill_mid_run(redis_brokers::Lists, "redis lists").await;
}

/// A retry whose publish fails (its retry queue was deleted: the mandatory
/// publish comes back unroutable) leaves the original redeliverable: it is
/// nacked with requeue, comes back counted, and the next retry declares the
/// queue again. Without `mandatory` the retry would vanish and the original
/// be acked: the message lost.
#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_deleted_retry_queue_leaves_the_message_redeliverable() {
    let _serial = SERIAL.lock().await;
    use lapin::{Connection, ConnectionProperties, options::QueueDeleteOptions};
    use o11y_queue::semconv;

    let Some(t) = connect_or_skip(&rabbit::Amqp, "rabbitmq deleted retry queue").await else {
        return;
    };
    let q = unique_queue("deleted-retry");
    let _cleanup = rabbit::Amqp.cleanup(&q);
    let (capture, provider) = support::cases::fixture();
    Producer::new(t.clone()).publish(&q, "job").await.unwrap();
    let admin = Connection::connect(&rabbit::url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = admin.create_channel().await.unwrap();
    // Both retries wait 20 ms: one retry queue, `{q}.retry.20ms`.
    let retry_queue = format!("{q}.retry.20ms");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Attempt 1 fails (the retry queue is declared and used); attempt 2
    // deletes the retry queue, then fails; attempt 3 succeeds.
    let handler = move |m: Incoming| {
        let (tx, channel, retry_queue) = (tx.clone(), channel.clone(), retry_queue.clone());
        async move {
            let _ = tx.send(m.attempt);
            match m.attempt {
                1 => Err("first".to_owned()),
                2 => {
                    let options = QueueDeleteOptions::default();
                    channel.queue_delete(&retry_queue, options).await.unwrap();
                    Err("second".to_owned())
                }
                _ => Ok(()),
            }
        }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let consumer = Consumer::new(t.clone())
        .with_tracer_provider(&provider)
        .with_retry(
            RetryPolicy::new(5).with_backoff(Duration::from_millis(20), Duration::from_millis(20)),
        );
    let queue = q.clone();
    let running = tokio::spawn(async move {
        consumer
            .run_until(&queue, handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    let mut attempts = Vec::new();
    while attempts.len() < 3 {
        let attempt = tokio::time::timeout(support::PATIENCE, rx.recv())
            .await
            .expect("the message came back after the failed retry")
            .unwrap();
        attempts.push(attempt);
    }
    let p = format!("process {q}");
    let spans = support::wait_spans(&capture, move |s| s.named(&p).len() == 3).await;
    let _ = stop.send(());
    running.await.unwrap();
    assert_eq!(attempts, [1, 2, 3]);
    let mut process = spans.named(&format!("process {q}"));
    process.sort_by_key(|s| s.attr_str(semconv::DELIVERY_ATTEMPT));
    let failed = process[1]
        .event(semconv::EVENT_SETTLE_FAILED)
        .expect("the failed retry is on the span");
    assert!(
        failed
            .iter()
            .any(|kv| kv.value.to_string().contains("unroutable")),
        "{failed:?}"
    );
    assert_eq!(
        process[2].attr_str(semconv::OUTCOME).as_deref(),
        Some("ack")
    );
    assert!(
        t.receive(&q, 10).await.unwrap().is_empty(),
        "acked, nothing left"
    );
    let _ = admin.close(200, "done").await;
}

/// A short backoff does not wait behind a longer one: message A fails on
/// its 5th attempt (backoff 16 × 200 ms), then B on its 1st (200 ms); B
/// comes back first. With one retry queue and per-message TTLs, B would
/// wait at the head-blocked queue until A expired.
#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_short_backoff_does_not_wait_behind_a_long_one() {
    let _serial = SERIAL.lock().await;
    use o11y_queue::{AMQP_ATTEMPT_HEADER, Message};

    let Some(t) = connect_or_skip(&rabbit::Amqp, "rabbitmq retry ordering").await else {
        return;
    };
    let q = unique_queue("backoffs");
    let _cleanup = rabbit::Amqp.cleanup(&q);
    let a = Message::new("a").with_header(AMQP_ATTEMPT_HEADER, "5");
    t.publish(&q, a).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (first_failed_tx, first_failed) = oneshot::channel::<()>();
    let first_failed_tx = Mutex::new(Some(first_failed_tx));
    let handler = move |m: Incoming| {
        let body = String::from_utf8_lossy(&m.payload).into_owned();
        let _ = tx.send((body.clone(), m.attempt));
        if let Some(tx) = first_failed_tx.lock().unwrap().take() {
            let _ = tx.send(());
        }
        let fail = (body == "a" && m.attempt == 5) || (body == "b" && m.attempt == 1);
        async move {
            if fail {
                Err("again".to_owned())
            } else {
                Ok(())
            }
        }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let consumer = Consumer::new(t.clone()).with_retry(
        RetryPolicy::new(10).with_backoff(Duration::from_millis(200), Duration::from_secs(10)),
    );
    let queue = q.clone();
    let running = tokio::spawn(async move {
        consumer
            .run_until(&queue, handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    // B is published once A is in its (long) retry.
    tokio::time::timeout(support::PATIENCE, first_failed)
        .await
        .unwrap()
        .unwrap();
    Producer::new(t.clone()).publish(&q, "b").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let next = tokio::time::timeout(support::PATIENCE, rx.recv())
            .await
            .expect("every attempt in time")
            .unwrap();
        seen.push(next);
    }
    let _ = stop.send(());
    running.await.unwrap();
    let order: Vec<(&str, u32)> = seen.iter().map(|(b, n)| (b.as_str(), *n)).collect();
    assert_eq!(order, [("a", 5), ("b", 1), ("b", 2), ("a", 6)]);
}
