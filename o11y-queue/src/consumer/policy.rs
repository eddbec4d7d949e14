//! Retry and trace-relation settings of a [`Consumer`](crate::Consumer).

use std::time::Duration;

/// How often a failing message is retried, and how long to wait between tries.
///
/// Attempt `n` (1-based) failing waits `base * 2^(n-1)`, capped at `max_delay`,
/// before the next delivery; attempt `max_attempts` failing dead-letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base: Duration,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 100 ms doubling up to 30 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Dead-letter after `max_attempts` deliveries (at least 1).
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            ..Self::default()
        }
    }

    /// Sets the first delay and the cap.
    pub fn with_backoff(mut self, base: Duration, max_delay: Duration) -> Self {
        self.base = base;
        self.max_delay = max_delay.max(base);
        self
    }

    /// Deliveries before dead-lettering.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after attempt `attempt` failed.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max_delay)
    }
}

/// How the CONSUMER span relates to the PRODUCER span.
///
/// Either way the correlation id and baggage carry on, and the span links to
/// the producer's span, as the messaging conventions recommend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Relation {
    /// The CONSUMER span is a child of the PRODUCER span (one trace from the
    /// request to the handler) and also links to it. The default.
    #[default]
    Parent,
    /// The CONSUMER span starts a new trace and only links to the PRODUCER
    /// span: for fan-in, long-lived queues, or producers you do not trust.
    Link,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p =
            RetryPolicy::new(0).with_backoff(Duration::from_millis(10), Duration::from_millis(35));
        assert_eq!(p.max_attempts(), 1);
        let delays: Vec<u128> = (1..=4).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(delays, [10, 20, 35, 35]);
        assert_eq!(p.delay(u32::MAX), Duration::from_millis(35));
        assert_eq!(p.delay(0), Duration::from_millis(10));
    }
}
