//! Export queues a user can see and bound.
//!
//! Spans and log records wait for export in the SDK's batch processors,
//! which bound them by count only. Here each signal's queue is also bounded
//! in bytes, and every item that does not reach the exporter's success is
//! counted:
//!
//! - `o11y.telemetry.dropped` ([`DROPPED`](crate::TELEMETRY_DROPPED)), a
//!   counter of spans and log records, attributes `signal` (`spans`,
//!   `logs`) and `reason`:
//!   - `queue_full`: the queue held its maximum count
//!     (`OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BLRP_MAX_QUEUE_SIZE`, default 2 048);
//!   - `bytes_full`: the item would have taken the queue past its bytes
//!     (`O11Y_BSP_MAX_QUEUE_BYTES`, `O11Y_BLRP_MAX_QUEUE_BYTES`, default
//!     16 MiB);
//!   - `export_failed`: the item was in a batch the exporter failed to send
//!     (refused, timed out, rejected);
//!   - `shutdown`: the item ended after shutdown began, or was still held
//!     when it finished.
//! - `o11y.telemetry.queue.size` ([`QUEUE_SIZE`](crate::TELEMETRY_QUEUE_SIZE)),
//!   a gauge of the bytes each signal's queue holds, attribute `signal`.
//!
//! Both are on the guard's meter provider, so they reach Prometheus and
//! OTLP like the service's own metrics. The size of an item is an estimate:
//! its fixed size plus its name, attribute keys and values, events, links
//! and body. An item's bytes are held from the moment it is queued until
//! the exporter is done with its batch, whether it succeeded, failed or
//! timed out.
//!
//! The count bound is enforced here and handed to the SDK as its own queue
//! size: what this queue holds is never less than what waits in the SDK's
//! channel, so the SDK never drops an item on its own (which would leave
//! its bytes counted forever).

// Only the OTLP exporters queue; without them this module is idle.
#![cfg_attr(
    not(any(feature = "otlp-grpc", feature = "otlp-http")),
    allow(dead_code, unused_imports)
)]

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry::{KeyValue, metrics::MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::config::QueueLimits;

mod logs;
mod size;
mod spans;

pub(crate) use logs::logs;
pub(crate) use spans::spans;

/// `o11y.telemetry.dropped`: the counter of spans and log records that
/// never reached the collector, attributes `signal` (`spans`, `logs`) and
/// `reason` (`queue_full`, `bytes_full`, `export_failed`, `shutdown`). On
/// the guard's meter provider while OTLP exports spans or logs; see
/// [the crate documentation](crate#when-the-collector-is-down).
pub const DROPPED: &str = "o11y.telemetry.dropped";
/// `o11y.telemetry.queue.size`: the gauge of the estimated bytes of spans
/// and log records waiting for export, attribute `signal`.
pub const QUEUE_SIZE: &str = "o11y.telemetry.queue.size";

/// The `tracing` target of the warning a full queue gives: reported on
/// standard error with the SDK's export problems (at most one line per 10
/// s), never exported itself (see [`is_exporter_target`](crate::is_exporter_target)).
pub(crate) const DROP_WARNING_TARGET: &str = "o11y_core::export";

/// A full queue warns at most once per this interval: during an outage
/// items are refused by the million, and the counter has the figures.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Why an item was dropped: the `reason` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    QueueFull,
    BytesFull,
    ExportFailed,
    Shutdown,
}

impl Reason {
    const ALL: [Self; 4] = [
        Self::QueueFull,
        Self::BytesFull,
        Self::ExportFailed,
        Self::Shutdown,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::BytesFull => "bytes_full",
            Self::ExportFailed => "export_failed",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Items and bytes held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) items: usize,
    pub(crate) bytes: usize,
}

/// One signal's accounting: what is held against its limits, and the drops.
#[derive(Debug)]
pub(crate) struct Queue {
    signal: &'static str,
    limits: QueueLimits,
    held: Mutex<Held>,
    dropped: [AtomicU64; 4],
    warned: Mutex<Option<Instant>>,
}

impl Queue {
    pub(crate) fn new(signal: &'static str, limits: QueueLimits) -> Arc<Self> {
        Arc::new(Self {
            signal,
            limits,
            held: Mutex::new(Held::default()),
            dropped: Default::default(),
            warned: Mutex::new(None),
        })
    }

    /// Takes one item of `bytes` if both limits allow it; otherwise counts
    /// the drop and returns `false`.
    fn admit(&self, bytes: usize) -> bool {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let refused = if held.items >= self.limits.max_items {
            Reason::QueueFull
        } else if held.bytes.saturating_add(bytes) > self.limits.max_bytes {
            Reason::BytesFull
        } else {
            held.items += 1;
            held.bytes += bytes;
            return true;
        };
        drop(held);
        self.count(refused, 1);
        self.warn(refused, Instant::now());
        false
    }

    /// A `tracing` WARN event saying the queue drops, unless one was given
    /// less than [`WARN_INTERVAL`] before `now`. The SDK's own "dropping"
    /// warning never fires: this queue refuses items before its channel fills.
    fn warn(&self, reason: Reason, now: Instant) -> bool {
        let mut last = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| now.saturating_duration_since(t) < WARN_INTERVAL) {
            return false;
        }
        *last = Some(now);
        drop(last);
        tracing::warn!(
            name: "ExportQueue.Dropping",
            target: DROP_WARNING_TARGET,
            signal = self.signal,
            reason = reason.as_str(),
            dropped = self.dropped(reason),
            max_items = self.limits.max_items,
            max_bytes = self.limits.max_bytes,
            "the export queue is full: {} are dropped and counted in {DROPPED}",
            self.signal,
        );
        true
    }

    /// Gives back what a finished export held.
    fn release(&self, done: Held) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.items = held.items.saturating_sub(done.items);
        held.bytes = held.bytes.saturating_sub(done.bytes);
    }

    /// Counts whatever is still held as lost at shutdown, and holds nothing.
    fn abandon(&self) {
        let lost = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        self.count(Reason::Shutdown, lost.items);
    }

    fn count(&self, reason: Reason, items: usize) {
        if let Some(n) = self.dropped.get(reason as usize) {
            n.fetch_add(items as u64, Ordering::Relaxed);
        }
    }

    /// Items dropped for `reason` so far.
    pub(crate) fn dropped(&self, reason: Reason) -> u64 {
        self.dropped
            .get(reason as usize)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// What the queue holds now.
    pub(crate) fn held(&self) -> Held {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reports `queues` on `provider`: [`DROPPED`] and [`QUEUE_SIZE`].
pub(crate) fn register(provider: &SdkMeterProvider, queues: &[Arc<Queue>]) {
    if queues.is_empty() {
        return;
    }
    let meter = provider.meter("o11y-core");
    let all = queues.to_vec();
    meter
        .u64_observable_counter(DROPPED)
        .with_unit("{item}")
        .with_description("Spans and log records that never reached the collector, by reason")
        .with_callback(move |observer| {
            for q in &all {
                for reason in Reason::ALL {
                    let attributes = [
                        KeyValue::new("signal", q.signal),
                        KeyValue::new("reason", reason.as_str()),
                    ];
                    observer.observe(q.dropped(reason), &attributes);
                }
            }
        })
        .build();
    let all = queues.to_vec();
    meter
        .u64_observable_gauge(QUEUE_SIZE)
        .with_unit("By")
        .with_description("Estimated bytes of spans and log records waiting for export")
        .with_callback(move |observer| {
            for q in &all {
                let bytes = u64::try_from(q.held().bytes).unwrap_or(u64::MAX);
                observer.observe(bytes, &[KeyValue::new("signal", q.signal)]);
            }
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(max_items: usize, max_bytes: usize) -> Arc<Queue> {
        Queue::new(
            "spans",
            QueueLimits {
                max_items,
                max_bytes,
            },
        )
    }

    #[test]
    fn admits_within_both_limits_and_counts_each_refusal_by_reason() {
        let q = queue(3, 100);
        assert!(q.admit(40));
        assert!(q.admit(40));
        assert!(!q.admit(21), "past the bytes");
        assert!(q.admit(20), "exactly at the bytes");
        assert!(!q.admit(0), "past the count");
        assert_eq!(
            q.held(),
            Held {
                items: 3,
                bytes: 100
            }
        );
        assert_eq!(q.dropped(Reason::BytesFull), 1);
        assert_eq!(q.dropped(Reason::QueueFull), 1);
        q.release(Held {
            items: 2,
            bytes: 80,
        });
        assert!(q.admit(80));
        assert_eq!(
            q.held(),
            Held {
                items: 2,
                bytes: 100
            }
        );
    }

    #[test]
    fn a_full_queue_warns_once_per_interval() {
        use tracing_subscriber::{Layer, layer::SubscriberExt as _};

        struct Count(Arc<AtomicU64>);
        impl<S: tracing::Subscriber> Layer<S> for Count {
            fn on_event(
                &self,
                e: &tracing::Event<'_>,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                let m = e.metadata();
                if m.target() == DROP_WARNING_TARGET && *m.level() == tracing::Level::WARN {
                    self.0.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let events = Arc::new(AtomicU64::new(0));
        let subscriber = tracing_subscriber::registry().with(Count(events.clone()));
        let q = queue(1, 100);
        tracing::subscriber::with_default(subscriber, || {
            assert!(q.admit(10));
            for _ in 0..1000 {
                assert!(!q.admit(10));
            }
        });
        assert_eq!(events.load(Ordering::Relaxed), 1, "1000 drops, one warning");
        assert_eq!(q.dropped(Reason::QueueFull), 1000);
        // The interval is measured from the last warning.
        let t0 = Instant::now();
        let q = queue(1, 100);
        assert!(q.warn(Reason::BytesFull, t0));
        assert!(!q.warn(Reason::BytesFull, t0 + WARN_INTERVAL / 2));
        assert!(q.warn(Reason::QueueFull, t0 + WARN_INTERVAL));
    }

    #[test]
    fn an_item_larger_than_the_whole_queue_is_refused_even_when_empty() {
        let q = queue(10, 100);
        assert!(!q.admit(101));
        assert_eq!(q.held(), Held::default());
        assert_eq!(q.dropped(Reason::BytesFull), 1);
    }

    #[test]
    fn a_release_never_goes_below_zero() {
        let q = queue(10, 100);
        assert!(q.admit(10));
        q.release(Held {
            items: 5,
            bytes: 50,
        });
        assert_eq!(q.held(), Held::default());
    }

    #[test]
    fn abandon_counts_what_is_held_as_lost_at_shutdown() {
        let q = queue(10, 100);
        assert!(q.admit(10));
        assert!(q.admit(10));
        q.abandon();
        assert_eq!(q.held(), Held::default());
        assert_eq!(q.dropped(Reason::Shutdown), 2);
    }

    #[test]
    fn concurrent_admits_never_exceed_the_limits() {
        let q = queue(1000, 50_000);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..1000).for_each(|_| _ = q.admit(70)));
            }
        });
        let held = q.held();
        assert!(held.items <= 1000 && held.bytes <= 50_000, "{held:?}");
        let refused = q.dropped(Reason::QueueFull) + q.dropped(Reason::BytesFull);
        assert_eq!(held.items as u64 + refused, 4000);
    }
}
