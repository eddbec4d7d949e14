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
    /// Declare destinations as quorum queues (`x-queue-type: quorum`,
    /// default `true`), whose `x-delivery-count` counts every delivery that
    /// came back unsettled, a crashed consumer's included. With `false`
    /// (classic queues) the broker only says `redelivered`, so a message
    /// that kills its consumer again and again counts one attempt more at
    /// most and is never dead-lettered. A queue that already exists with
    /// another type makes the declare fail (`PRECONDITION_FAILED`).
    pub quorum: bool,
    /// The longest wait for a publisher confirm, and for a (re)connect
    /// (default 10 s): past it the publish is an error, not a hang.
    pub confirm_timeout: Duration,
}

impl Default for AmqpOptions {
    fn default() -> Self {
        Self {
            prefetch: 64,
            poll: Duration::from_secs(1),
            quorum: true,
            confirm_timeout: Duration::from_secs(10),
        }
    }
}

impl AmqpOptions {
    /// Sets the prefetch count.
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Declares destinations as quorum (`true`) or classic queues.
    pub fn with_quorum(mut self, quorum: bool) -> Self {
        self.quorum = quorum;
        self
    }

    /// Sets the longest wait for a publisher confirm or a (re)connect.
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> Self {
        self.confirm_timeout = timeout;
        self
    }

    /// Sets how long one receive waits.
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }
}
