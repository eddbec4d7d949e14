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
