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
