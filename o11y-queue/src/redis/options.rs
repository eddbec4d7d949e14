//! [`RedisOptions`]: consumer group and timing of the Redis transport.

use std::time::Duration;

/// Settings of a [`RedisTransport`](super::RedisTransport).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// The consumer group (default `o11y`).
    pub group: String,
    /// How long a delivery may stay unacknowledged before another consumer
    /// claims it: longer than your slowest handler (default 30 s).
    pub claim_idle: Duration,
    /// How often to look for entries to claim (default 250 ms).
    pub claim_check: Duration,
    /// How long one `XREADGROUP` waits for new entries (default 1 s).
    pub block: Duration,
    /// Timeout of a command's reply (default 5 s; blocking reads get `block` more).
    pub response_timeout: Duration,
    /// Delete entries once acked or dead-lettered (`XDEL`), so that a work
    /// queue's stream holds only what is not done yet (default `true`).
    /// Turn it off when other consumer groups read the same stream: an
    /// entry deleted after this group acked it is gone for them too.
    pub delete_acked: bool,
    /// Cap every `XADD` with `MAXLEN ~ n` (default 1 000 000; `None`: no
    /// cap), the `.dlq` stream included, so that a stream cannot grow
    /// without bound when nothing consumes it. The trade-off: past the cap
    /// Redis trims the oldest entries whether or not they were read, so
    /// set it above the largest backlog you expect (it is approximate:
    /// Redis trims whole nodes, a little past `n`).
    pub max_len: Option<usize>,
    /// Consumers of the group idle this long with nothing pending are
    /// removed from it (default 1 h): every process start is a new consumer
    /// name, and the group would otherwise keep them all.
    pub forget_idle_consumers: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            group: "o11y".to_owned(),
            claim_idle: Duration::from_secs(30),
            claim_check: Duration::from_millis(250),
            block: Duration::from_secs(1),
            response_timeout: Duration::from_secs(5),
            delete_acked: true,
            max_len: Some(1_000_000),
            forget_idle_consumers: Duration::from_secs(3600),
        }
    }
}

impl RedisOptions {
    /// Sets the consumer group.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Sets the claim idle time.
    pub fn with_claim_idle(mut self, idle: Duration) -> Self {
        self.claim_idle = idle;
        self
    }

    /// Sets how long one read blocks.
    pub fn with_block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// Sets the approximate cap of every stream (`None`: no cap).
    pub fn with_max_len(mut self, max_len: Option<usize>) -> Self {
        self.max_len = max_len;
        self
    }

    /// Sets how long a consumer with nothing pending stays in the group.
    pub fn with_forget_idle_consumers(mut self, idle: Duration) -> Self {
        self.forget_idle_consumers = idle;
        self
    }

    /// Deletes entries once acked.
    pub fn with_delete_acked(mut self, delete: bool) -> Self {
        self.delete_acked = delete;
        self
    }
}
