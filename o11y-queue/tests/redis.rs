//! The transport suite against Redis Streams on 127.0.0.1:6379
//! (`O11Y_REDIS_URL` overrides).
#![cfg(feature = "redis")]

mod support;

use std::time::Duration;

use o11y_queue::{RedisOptions, RedisTransport};
use support::Harness;

struct Redis;

fn url() -> String {
    std::env::var("O11Y_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

impl Harness for Redis {
    type T = RedisTransport;
    const NAME: &'static str = "redis";

    async fn connect(&self) -> Option<RedisTransport> {
        let options = RedisOptions::default()
            .with_claim_idle(Duration::from_secs(1))
            .with_block(Duration::from_millis(200));
        RedisTransport::connect(&url(), options).await.ok()
    }

    fn cleanup(&self, queue: &str) -> support::Cleanup {
        support::cleanup::redis(&url(), queue)
    }
}

suite!(Redis);

/// Released at the shutdown deadline, an entry is claimed again at once,
/// long before the claim idle time (a minute here) would free it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deadline_releases_before_the_claim_idle_time() {
    let options = RedisOptions::default()
        .with_claim_idle(Duration::from_secs(60))
        .with_block(Duration::from_millis(200));
    let Ok(t) = RedisTransport::connect(&url(), options).await else {
        let _ = support::connect_or_skip(&Redis, "shutdown_deadline_releases").await;
        return;
    };
    support::cases::shutdown_deadline_releases_unfinished_work(&Redis, t).await;
}

/// The `XPENDING` summary: count, lowest and highest id, per-consumer counts.
type Pending = (
    usize,
    Option<String>,
    Option<String>,
    Option<Vec<(String, String)>>,
);

async fn raw() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// By default a stream holds only what is not done: acked entries are
/// deleted, and every add is capped (`MAXLEN ~`), the cap trimming the
/// oldest entries of a stream nobody consumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_stay_bounded_by_default() {
    use o11y_queue::{Message, Transport};

    let Some(t) = support::connect_or_skip(&Redis, "streams_stay_bounded_by_default").await else {
        return;
    };
    let mut conn = raw().await;
    let q = support::unique_queue("bounded");
    let _cleanup = Redis.cleanup(&q);
    for i in 0..3 {
        t.publish(&q, Message::new(format!("m{i}"))).await.unwrap();
    }
    let mut acked = 0;
    let deadline = tokio::time::Instant::now() + support::PATIENCE;
    while acked < 3 {
        assert!(tokio::time::Instant::now() < deadline, "received in time");
        let batch = t.receive(&q, 10).await.unwrap();
        let refs: Vec<_> = batch.iter().collect();
        t.ack_batch(&q, &refs).await.unwrap();
        acked += batch.len();
    }
    let len: usize = redis::cmd("XLEN")
        .arg(&q)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 0, "acked entries deleted");

    let capped = RedisTransport::connect(&url(), RedisOptions::default().with_max_len(Some(10)))
        .await
        .unwrap();
    let q = support::unique_queue("capped");
    let _cleanup = Redis.cleanup(&q);
    for i in 0..1000 {
        capped
            .publish(&q, Message::new(format!("m{i}")))
            .await
            .unwrap();
    }
    let len: usize = redis::cmd("XLEN")
        .arg(&q)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((10..1000).contains(&len), "trimmed near the cap: {len}");
}

/// A dead letter whose add fails leaves the original pending (it comes
/// back), never acked and lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dead_letter_add_does_not_ack() {
    use o11y_queue::{Message, Transport};

    let Some(t) = support::connect_or_skip(&Redis, "a_failed_dead_letter_add_does_not_ack").await
    else {
        return;
    };
    let mut conn = raw().await;
    let q = support::unique_queue("dlq-fails");
    let _cleanup = Redis.cleanup(&q);
    t.publish(&q, Message::new("poison")).await.unwrap();
    // The dead-letter key holds a string: XADD to it fails.
    let dlq = t.dead_letter_destination(&q);
    let _: () = redis::cmd("SET")
        .arg(&dlq)
        .arg("not a stream")
        .query_async(&mut conn)
        .await
        .unwrap();
    let delivery = loop {
        if let Some(d) = t.receive(&q, 1).await.unwrap().pop() {
            break d;
        }
    };
    let failed = t.dead_letter(&q, &delivery, "bad").await;
    assert!(failed.is_err(), "the add failed");
    let pending: Pending = redis::cmd("XPENDING")
        .arg(&q)
        .arg("o11y")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.0, 1, "still pending, not acked");
    let _: () = redis::cmd("DEL")
        .arg(&dlq)
        .query_async(&mut conn)
        .await
        .unwrap();
    t.dead_letter(&q, &delivery, "bad").await.unwrap();
    let pending: Pending = redis::cmd("XPENDING")
        .arg(&q)
        .arg("o11y")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.0, 0, "acked once the add worked");
}

/// Consumers left by earlier processes leave the group once idle with
/// nothing pending; one still holding an entry stays (removing it would
/// drop the entry from the pending list).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_consumers_with_nothing_pending_leave_the_group() {
    use o11y_queue::{Message, Transport};

    let Some(t0) = support::connect_or_skip(&Redis, "idle_consumers_leave_the_group").await else {
        return;
    };
    let mut conn = raw().await;
    let q = support::unique_queue("forget");
    let _cleanup = Redis.cleanup(&q);
    t0.publish(&q, Message::new("held")).await.unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&q)
        .arg("o11y")
        .arg("0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("XGROUP")
        .arg("CREATECONSUMER")
        .arg(&q)
        .arg("o11y")
        .arg("ghost")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("o11y")
        .arg("busy")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg(&q)
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    let options = RedisOptions::default()
        .with_block(Duration::from_millis(100))
        .with_forget_idle_consumers(Duration::ZERO);
    let t = RedisTransport::connect(&url(), options).await.unwrap();
    assert!(t.receive(&q, 1).await.unwrap().is_empty());
    let info: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(&q)
        .arg("o11y")
        .query_async(&mut conn)
        .await
        .unwrap();
    let names: std::collections::BTreeSet<String> = info
        .iter()
        .filter_map(|c| match c.get("name") {
            Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(redis::Value::SimpleString(s)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(names.contains("busy"), "{names:?}");
    assert!(!names.contains("ghost"), "{names:?}");
}
