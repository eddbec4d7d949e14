//! [`SqsOptions`]: queue creation and timing of the SQS transport.

use std::time::Duration;

/// Settings of an [`SqsTransport`](super::SqsTransport).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqsOptions {
    /// Create missing queues (`CreateQueue`) instead of failing (default `true`).
    pub create_queues: bool,
    /// Long-poll time of one receive, whole seconds up to 20 (default 1 s).
    pub wait: Duration,
    /// Visibility timeout requested on receive: how long a delivery stays
    /// hidden before another consumer gets it (default: the queue's own).
    pub visibility_timeout: Option<Duration>,
}

impl Default for SqsOptions {
    fn default() -> Self {
        Self {
            create_queues: true,
            wait: Duration::from_secs(1),
            visibility_timeout: None,
        }
    }
}

impl SqsOptions {
    /// Sets whether missing queues are created.
    pub fn with_create_queues(mut self, create: bool) -> Self {
        self.create_queues = create;
        self
    }

    /// Sets the long-poll time.
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the visibility timeout requested on receive.
    pub fn with_visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = Some(timeout);
        self
    }
}

/// Whole seconds for an SQS API field, rounded up, within `0..=max`.
pub(super) fn seconds(d: Duration, max: i32) -> i32 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(max).min(max)
}
