//! The transport suite against Redis lists on 127.0.0.1:6379 (the
//! reliable-queue pattern; `O11Y_REDIS_URL` overrides).
#![cfg(feature = "redis")]

mod support;

use std::time::Duration;

use o11y_queue::{RedisListTransport, RedisOptions};
use support::Harness;

struct RedisList;

fn url() -> String {
    std::env::var("O11Y_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

impl Harness for RedisList {
    type T = RedisListTransport;
    const NAME: &'static str = "redis (lists)";

    async fn connect(&self) -> Option<RedisListTransport> {
        let options = RedisOptions::default()
            .with_claim_idle(Duration::from_secs(1))
            .with_block(Duration::from_millis(200));
        RedisListTransport::connect(&url(), options).await.ok()
    }

    fn cleanup(&self, queue: &str) -> support::Cleanup {
        support::cleanup::redis(&url(), queue)
    }
}

suite!(RedisList);

/// A `BLMOVE` whose reply was lost (Redis moved the element, the connection
/// died before the answer came) leaves the element in this live consumer's
/// processing list with no handler holding it: it is moved back and
/// handled, its attempt raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_element_moved_without_a_reply_is_rescued() {
    let Some(t) =
        support::connect_or_skip(&RedisList, "an_element_moved_without_a_reply_is_rescued").await
    else {
        return;
    };
    let q = support::unique_queue("lost-reply");
    let _cleanup = RedisList.cleanup(&q);
    o11y_queue::Producer::new(t.clone())
        .publish(&q, "orphan")
        .await
        .unwrap();
    // The move as Redis ran it; its reply never reaches the transport.
    let client = redis::Client::open(url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let processing = format!("{q}:processing:{}", t.consumer_name());
    let moved: Option<Vec<u8>> = redis::cmd("LMOVE")
        .arg(&q)
        .arg(&processing)
        .arg("RIGHT")
        .arg("LEFT")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(moved.is_some());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |m: o11y_queue::Incoming| {
        let _ = tx.send((m.payload, m.attempt));
        async { Ok::<_, String>(()) }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = o11y_queue::Consumer::new(t.clone());
    let queue = q.clone();
    let running = tokio::spawn(async move {
        consumer
            .run_until(&queue, handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    let (payload, attempt) = tokio::time::timeout(support::PATIENCE, rx.recv())
        .await
        .expect("the orphan was handled")
        .unwrap();
    let _ = stop.send(());
    running.await.unwrap();
    assert_eq!(&payload[..], b"orphan");
    assert_eq!(attempt, 2, "the lost move counted as a delivery");
    let left: i64 = redis::cmd("LLEN")
        .arg(&processing)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "acked out of the processing list");
}
