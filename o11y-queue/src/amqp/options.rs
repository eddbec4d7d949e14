//! [`AmqpOptions`]: prefetch and polling of the AMQP transport.

use std::time::Duration;

/// Settings of an [`AmqpTransport`](super::AmqpTransport).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AmqpOptions {
    /// Unacked deliveries the broker may push ahead per consumer (default 64).
    pub prefetch: u16,
    /// How long one receive waits for a delivery (default 1 s).
    pub poll: Duration,
}

impl Default for AmqpOptions {
    fn default() -> Self {
        Self {
            prefetch: 64,
            poll: Duration::from_secs(1),
        }
    }
}

impl AmqpOptions {
    /// Sets the prefetch count.
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Sets how long one receive waits.
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }
}
