//! [`MemoryTransport`]: in-process queues on tokio, with the same
//! at-least-once contract as a broker (visibility timeout, delayed retries,
//! dead-letter queues). For tests, examples and single-process services.
//!
//! At least once within the process: the attempt is the transport's own
//! count of deliveries of the message, raised when it is handed out; a
//! delivery not settled within the visibility timeout comes back, counted.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use o11y_queue::{Message, MemoryTransport, Transport};
//!
//! let queue = MemoryTransport::new();
//! queue.publish("jobs", Message::new("hello")).await.unwrap();
//! let batch = queue.receive("jobs", 10).await.unwrap();
//! assert_eq!(batch[0].attempt, 1);
//! queue.ack("jobs", &batch[0]).await.unwrap();
//! # }
//! ```

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, SystemTime},
};

use tokio::{sync::Notify, time::Instant};

use crate::{
    message::{Delivery, Message, Published},
    transport::{Transport, TransportError, dead_letter_message},
};

/// In-process queues, shared by every clone.
///
/// A received delivery that is not settled within the visibility timeout
/// (default 30 s) is delivered again, as a broker would after a crash.
#[derive(Clone, Debug)]
pub struct MemoryTransport {
    inner: Arc<Inner>,
}

/// Settles one [`MemoryTransport`] delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryReceipt(u64);

#[derive(Debug)]
struct Inner {
    queues: Mutex<HashMap<String, Queue>>,
    visibility: Duration,
    poll: Duration,
}

#[derive(Clone, Debug)]
struct Entry {
    id: u64,
    message: Message,
    deliveries: u32,
    enqueued_at: SystemTime,
}

#[derive(Debug, Default)]
struct Queue {
    ready: VecDeque<Entry>,
    /// Retries waiting for their time, and deliveries awaiting settlement.
    waiting: Vec<(Instant, Entry, bool)>,
    notify: Arc<Notify>,
    next_id: u64,
}

impl Default for MemoryTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTransport {
    /// Empty queues, 30 s visibility timeout.
    pub fn new() -> Self {
        Self::with_visibility_timeout(Duration::from_secs(30))
    }

    /// Empty queues; unsettled deliveries come back after `timeout`.
    pub fn with_visibility_timeout(timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                queues: Mutex::new(HashMap::new()),
                visibility: timeout,
                poll: Duration::from_millis(500),
            }),
        }
    }

    /// Messages waiting in `destination` (ready or delayed, not in flight).
    pub fn len(&self, destination: &str) -> usize {
        self.lock().get(destination).map_or(0, |q| {
            q.ready.len() + q.waiting.iter().filter(|w| !w.2).count()
        })
    }

    /// Whether `destination` holds no waiting message.
    pub fn is_empty(&self, destination: &str) -> bool {
        self.len(destination) == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.inner
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, destination: &str, message: Message) -> u64 {
        let mut queues = self.lock();
        let queue = queues.entry(destination.to_owned()).or_default();
        queue.next_id += 1;
        let id = queue.next_id;
        queue.ready.push_back(Entry {
            id,
            message,
            deliveries: 0,
            enqueued_at: SystemTime::now(),
        });
        queue.notify.notify_waiters();
        id
    }

    /// Takes the in-flight entry `receipt` out of `destination`.
    fn take(&self, destination: &str, receipt: MemoryReceipt) -> Option<Entry> {
        let mut queues = self.lock();
        let queue = queues.get_mut(destination)?;
        let at = queue
            .waiting
            .iter()
            .position(|(_, e, in_flight)| *in_flight && e.id == receipt.0)?;
        Some(queue.waiting.swap_remove(at).1)
    }

    /// Up to `max` ready entries, or how long to wait for more.
    fn notify(&self, destination: &str) -> Arc<Notify> {
        self.lock()
            .entry(destination.to_owned())
            .or_default()
            .notify
            .clone()
    }

    fn poll(
        &self,
        destination: &str,
        max: usize,
    ) -> (Vec<Delivery<MemoryReceipt>>, Option<Instant>) {
        let mut queues = self.lock();
        let queue = queues.entry(destination.to_owned()).or_default();
        let now = Instant::now();
        queue.promote(now);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(mut entry) = queue.ready.pop_front() else {
                break;
            };
            entry.deliveries = entry.deliveries.saturating_add(1);
            out.push(Delivery {
                message: entry.message.clone(),
                id: Some(entry.id.to_string()),
                attempt: entry.deliveries,
                enqueued_at: Some(entry.enqueued_at),
                receipt: MemoryReceipt(entry.id),
            });
            queue
                .waiting
                .push((now + self.inner.visibility, entry, true));
        }
        let next = queue.waiting.iter().map(|w| w.0).min();
        (out, next)
    }
}

impl Queue {
    /// Moves due retries and expired deliveries back to the ready list.
    fn promote(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.waiting.len() {
            if self.waiting.get(i).is_some_and(|w| w.0 <= now) {
                let (_, entry, _) = self.waiting.swap_remove(i);
                self.ready.push_back(entry);
            } else {
                i += 1;
            }
        }
    }
}

impl Transport for MemoryTransport {
    type Receipt = MemoryReceipt;

    fn system(&self) -> &'static str {
        "memory"
    }

    async fn publish(
        &self,
        destination: &str,
        message: Message,
    ) -> Result<Published, TransportError> {
        let id = self.push(destination, message);
        Ok(Published::with_id(id.to_string()))
    }

    async fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<MemoryReceipt>>, TransportError> {
        let deadline = Instant::now() + self.inner.poll;
        let notify = self.notify(destination);
        loop {
            // Registered before looking, so a push in between still wakes us.
            let mut notified = std::pin::pin!(notify.notified());
            notified.as_mut().enable();
            let (batch, next) = self.poll(destination, max.max(1));
            if !batch.is_empty() || Instant::now() >= deadline {
                return Ok(batch);
            }
            let wake = next.map_or(deadline, |n| n.min(deadline));
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.inner.visibility)
    }

    async fn extend(
        &self,
        destination: &str,
        delivery: &Delivery<MemoryReceipt>,
    ) -> Result<(), TransportError> {
        let mut queues = self.lock();
        let in_flight = queues.get_mut(destination).and_then(|q| {
            q.waiting
                .iter_mut()
                .find(|(_, e, in_flight)| *in_flight && e.id == delivery.receipt.0)
        });
        if let Some((due, _, _)) = in_flight {
            *due = Instant::now() + self.inner.visibility;
        }
        Ok(())
    }

    async fn ack(
        &self,
        destination: &str,
        delivery: &Delivery<MemoryReceipt>,
    ) -> Result<(), TransportError> {
        self.take(destination, delivery.receipt);
        Ok(())
    }

    async fn retry(
        &self,
        destination: &str,
        delivery: &Delivery<MemoryReceipt>,
        delay: Duration,
    ) -> Result<(), TransportError> {
        if let Some(entry) = self.take(destination, delivery.receipt) {
            let mut queues = self.lock();
            let queue = queues.entry(destination.to_owned()).or_default();
            queue.waiting.push((Instant::now() + delay, entry, false));
            queue.notify.notify_waiters();
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<MemoryReceipt>,
        reason: &str,
    ) -> Result<(), TransportError> {
        if self.take(destination, delivery.receipt).is_some() {
            let target = self.dead_letter_destination(destination);
            self.push(&target, dead_letter_message(delivery, reason));
        }
        Ok(())
    }
}
