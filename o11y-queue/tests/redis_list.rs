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
}

suite!(RedisList);
