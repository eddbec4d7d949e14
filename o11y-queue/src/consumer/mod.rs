//! [`Consumer`]: receives, continues the producer's trace, runs the handler,
//! then acks, retries or dead-letters.

mod handler;
mod policy;
mod process;

use std::{future::Future, pin::pin, sync::Arc, time::Duration};

use opentelemetry::{
    global::ObjectSafeTracerProvider, metrics::MeterProvider, propagation::TextMapPropagator,
    trace::TracerProvider,
};
use tokio::{sync::Semaphore, task::JoinSet};

pub use handler::Handler;
pub use policy::{Relation, RetryPolicy};

use crate::{instrument::Instrumentation, transport::Transport};
use process::Processor;

/// Settings shared by every processing task.
#[derive(Clone, Debug, Default)]
struct Settings {
    instrumentation: Instrumentation,
    retry: RetryPolicy,
    relation: Relation,
}

/// Runs a [`Handler`] for every message of a destination, each inside a
/// `process {destination}` CONSUMER span that continues the producer's trace.
///
/// The handler future runs with the CONSUMER span's context attached on every
/// poll, so its spans and logs belong to the producer's trace. `Ok` acks;
/// an error or a panic retries with backoff, and the last allowed attempt
/// dead-letters (see [`RetryPolicy`]). A payload whose envelope cannot be read
/// is dead-lettered at once, never dropped. Each attempt is its own span,
/// with `o11y.messaging.delivery.attempt` and `o11y.messaging.outcome`.
///
/// ```no_run
/// # #[tokio::main] async fn main() {
/// use o11y_queue::{Consumer, Incoming, MemoryTransport, RetryPolicy};
///
/// let consumer = Consumer::new(MemoryTransport::new()).with_retry(RetryPolicy::new(3));
/// consumer
///     .run("orders", |message: Incoming| async move {
///         tracing::info!(bytes = message.payload.len(), "order received");
///         Ok::<_, std::io::Error>(())
///     })
///     .await;
/// # }
/// ```
pub struct Consumer<T> {
    transport: Arc<T>,
    settings: Settings,
    concurrency: usize,
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("settings", &self.settings)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Consumer<T> {
    /// A consumer on `transport`: global tracer provider and propagator,
    /// [`RetryPolicy::default`], [`Relation::Parent`], one message at a time.
    pub fn new(transport: T) -> Self {
        Self {
            transport: Arc::new(transport),
            settings: Settings::default(),
            concurrency: 1,
        }
    }

    /// Makes spans with `provider` instead of the global one.
    pub fn with_tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider + ObjectSafeTracerProvider,
    {
        self.settings.instrumentation.set_provider(provider);
        self
    }

    /// Records metrics with `provider` instead of the global one.
    pub fn with_meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.settings.instrumentation.set_meter_provider(provider);
        self
    }

    /// Extracts with `propagator` instead of the global one.
    pub fn with_propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.settings.instrumentation.set_propagator(propagator);
        self
    }

    /// Sets retries and backoff.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.settings.retry = retry;
        self
    }

    /// Sets how the CONSUMER span relates to the PRODUCER span.
    pub fn with_relation(mut self, relation: Relation) -> Self {
        self.settings.relation = relation;
        self
    }

    /// Runs up to `n` handlers at once (at least 1); receives in batches of `n`.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.transport
    }

    /// Consumes `destination` forever.
    pub async fn run<H: Handler>(&self, destination: &str, handler: H) {
        self.run_until(destination, handler, std::future::pending())
            .await;
    }

    /// Consumes `destination` until `shutdown` completes, then stops
    /// receiving (within the transport's poll time), lets the handlers in
    /// flight finish and settle, and returns. Deliveries a transport
    /// prefetched but never handed out go back to the queue.
    pub async fn run_until<H: Handler>(
        &self,
        destination: &str,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) {
        let processor = Arc::new(Processor {
            transport: self.transport.clone(),
            handler: Arc::new(handler),
            settings: self.settings.clone(),
            destination: Arc::from(destination),
        });
        let mut shutdown = pin!(shutdown);
        let semaphore = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        let mut failures = 0u32;
        let half = self.concurrency.div_ceil(2);
        'receiving: loop {
            while tasks.try_join_next().is_some() {}
            // Under load, receive once half the handler slots are free, so
            // the broker sees batches rather than a read per finished handler.
            while semaphore.available_permits() < half {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'receiving,
                    done = tasks.join_next() => if done.is_none() { break },
                }
            }
            // Always ask for a full batch: deliveries wait for a slot in order.
            let first = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = semaphore.clone().acquire_owned() => permit,
            };
            let Ok(first) = first else { break };
            // Not raced against `shutdown`: a receive returns within the
            // transport's short poll time, and what it got is then handled
            // rather than left with the broker until a redelivery timeout.
            let received = self.transport.receive(destination, self.concurrency).await;
            match received {
                Ok(batch) => {
                    failures = 0;
                    let mut first = Some(first);
                    for delivery in batch {
                        let permit = match first.take() {
                            Some(p) => Ok(p),
                            None => semaphore.clone().acquire_owned().await,
                        };
                        let processor = processor.clone();
                        tasks.spawn(async move {
                            processor.process(delivery).await;
                            drop(permit);
                        });
                    }
                }
                Err(e) => {
                    drop(first);
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "receive failed; backing off");
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(receive_backoff(failures)) => {}
                    }
                }
            }
        }
        while tasks.join_next().await.is_some() {}
        self.transport.stop(destination).await;
    }
}

fn receive_backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1 << failures.min(6));
    Duration::from_millis(ms.min(5_000))
}
