//! [`Consumer`]: receives, continues the producer's trace, runs the handler,
//! then acks, retries or dead-letters.

mod acks;
mod batch;
mod handler;
mod policy;
mod process;
mod release;

use std::{future::Future, pin::pin, sync::Arc, time::Duration};

use futures_util::{StreamExt as _, stream::FuturesUnordered};
use opentelemetry::{
    global::ObjectSafeTracerProvider, metrics::MeterProvider, propagation::TextMapPropagator,
    trace::TracerProvider,
};

pub use handler::{BatchFailed, BatchHandler, Handler, Permanent};
pub use policy::{Relation, RetryPolicy};

use crate::{instrument::Instrumentation, message::Delivery, transport::Transport};
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
/// is dead-lettered at once, never dropped. The broker counts a delivery
/// before its handler runs (see each transport's docs), so a delivery that
/// comes back more than `max_attempts` times without having been settled (its
/// consumer process died in the handler) is dead-lettered without running the
/// handler again, with `error.type` [`semconv::ERROR_UNSETTLED`](crate::semconv::ERROR_UNSETTLED).
/// Each attempt is its own span,
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
    batch_size: usize,
    shutdown_timeout: Duration,
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("settings", &self.settings)
            .field("concurrency", &self.concurrency)
            .field("batch_size", &self.batch_size)
            .field("shutdown_timeout", &self.shutdown_timeout)
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
            batch_size: 10,
            shutdown_timeout: Duration::from_secs(30),
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

    /// Traces, measures and extracts with the providers and propagator of
    /// `guard` (telemetry built with `o11y_core::Builder::build`, not
    /// installed globally); what the guard does not hold stays global.
    pub fn with_guard(mut self, guard: &o11y_core::Guard) -> Self {
        if let Some(provider) = guard.tracer_provider() {
            self = self.with_tracer_provider(&provider);
        }
        if let Some(provider) = guard.meter_provider() {
            self = self.with_meter_provider(&provider);
        }
        if let Some(propagator) = guard.propagator() {
            self = self.with_propagator(propagator);
        }
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

    /// Runs up to `n` handlers at once (at least 1). [`run`](Self::run)
    /// receives in batches of `n`; [`run_batches`](Self::run_batches) runs up
    /// to `n` batches at once.
    ///
    /// Handlers run concurrently on the consumer's own task, as with
    /// `StreamExt::for_each_concurrent`: no task is spawned per message, which
    /// saves a cross-thread wake-up per message. A handler with CPU-heavy work
    /// should hand it to `tokio::task::spawn_blocking` (or spawn a task
    /// inside the current context); several consumers of one destination
    /// spread over the runtime's threads.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The most messages [`run_batches`](Self::run_batches) hands to its
    /// handler at once (at least 1, default 10; SQS delivers at most 10).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// How long a stopping consumer waits for the handlers in flight
    /// (default 30 s). Past it their futures are dropped and their
    /// deliveries released to the broker ([`Transport::release`]) for
    /// redelivery now, not after the broker's timeout.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
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
    /// prefetched but never handed out go back to the queue. Handlers still
    /// running after [`with_shutdown_timeout`](Self::with_shutdown_timeout)
    /// are dropped and their deliveries released to the broker.
    pub async fn run_until<H: Handler>(
        &self,
        destination: &str,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) {
        let processor = self.processor(destination, handler);
        let unsettled = processor.unsettled.clone();
        let work = move |delivery| {
            let processor = processor.clone();
            async move { processor.process(delivery).await }
        };
        let each = |batch: Vec<_>| batch;
        let max = self.concurrency;
        self.drive(destination, max, shutdown, each, work, &unsettled)
            .await;
    }

    /// Consumes `destination` forever, handing the handler up to
    /// [`with_batch_size`](Self::with_batch_size) messages at once.
    pub async fn run_batches<B: BatchHandler>(&self, destination: &str, handler: B) {
        self.run_batches_until(destination, handler, std::future::pending())
            .await;
    }

    /// Like [`run_until`](Self::run_until), one batch at a time (or up to
    /// [`with_concurrency`](Self::with_concurrency) batches).
    ///
    /// Each batch gets one `process {destination}` CONSUMER span with
    /// `messaging.batch.message_count` and a link to every message's
    /// PRODUCER span (with its `messaging.message.id`). A batch of one
    /// message is parented as [`run`](Self::run) would parent it; a larger
    /// batch starts a trace of its own, with the correlation id when every
    /// message carries the same one. `Ok` acks the batch in one broker call
    /// where the broker allows it ([`Transport::ack_batch`]); an error
    /// retries each message, or dead-letters those on their last attempt.
    /// A message whose envelope cannot be read is dead-lettered on its own
    /// and never reaches the handler.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() {
    /// use o11y_queue::{Consumer, Incoming, MemoryTransport};
    ///
    /// Consumer::new(MemoryTransport::new())
    ///     .with_batch_size(50)
    ///     .run_batches("events", |batch: Vec<Incoming>| async move {
    ///         tracing::info!(messages = batch.len(), "batch stored");
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub async fn run_batches_until<B: BatchHandler>(
        &self,
        destination: &str,
        handler: B,
        shutdown: impl Future<Output = ()>,
    ) {
        let processor = self.processor(destination, handler);
        let unsettled = processor.unsettled.clone();
        let work = move |batch| {
            let processor = processor.clone();
            async move { processor.process_batch(batch).await }
        };
        let whole = |batch: Vec<_>| (!batch.is_empty()).then_some(batch);
        let max = self.batch_size;
        self.drive(destination, max, shutdown, whole, work, &unsettled)
            .await;
    }

    fn processor<H>(&self, destination: &str, handler: H) -> Arc<Processor<T, H>> {
        let system = self.transport.system();
        Arc::new(Processor {
            transport: self.transport.clone(),
            acks: acks::AckQueue::default(),
            handler: Arc::new(handler),
            settings: self.settings.clone(),
            destination: Arc::from(destination),
            metric_ok: crate::metrics::attributes(system, "process", destination, None),
            unsettled: Arc::default(),
        })
    }

    /// The receive loop: receives up to `max`, splits what came into units
    /// of work, and runs each unit on its own task, at most `concurrency`
    /// at once.
    async fn drive<U, I, W, F>(
        &self,
        destination: &str,
        max: usize,
        shutdown: impl Future<Output = ()>,
        split: impl Fn(Vec<Delivery<T::Receipt>>) -> I,
        work: W,
        unsettled: &release::Unsettled<T::Receipt>,
    ) where
        I: IntoIterator<Item = U>,
        W: Fn(U) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let mut shutdown = pin!(shutdown);
        let mut tasks = FuturesUnordered::new();
        let mut failures = 0u32;
        let slots = self.concurrency;
        let half = slots.div_ceil(2);
        'receiving: loop {
            if futures_util::FutureExt::now_or_never(&mut shutdown).is_some() {
                break;
            }
            // Under load, receive once half the handler slots are free, so
            // the broker sees batches rather than a read per finished handler.
            while slots - tasks.len() < half {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'receiving,
                    _ = tasks.next() => {}
                }
            }
            // Let the work in flight settle first (for `LINGER` at most):
            // a read issued at once, while messages trickle in, returns them
            // one by one, a read after the acks finds several.
            if !tasks.is_empty() {
                let linger = tokio::time::sleep(LINGER);
                let mut linger = pin!(linger);
                loop {
                    tokio::select! {
                        biased;
                        () = &mut shutdown => break 'receiving,
                        () = &mut linger => break,
                        done = tasks.next() => if done.is_none() || tasks.is_empty() { break },
                    }
                }
            }
            let received = {
                let receive = self.transport.receive(destination, max);
                let mut receive = pin!(receive);
                loop {
                    tokio::select! {
                        biased;
                        r = &mut receive => break r,
                        Some(()) = tasks.next(), if !tasks.is_empty() => {}
                    }
                }
            };
            match received {
                Ok(batch) => {
                    failures = 0;
                    for unit in split(batch) {
                        while tasks.len() >= slots {
                            let _ = tasks.next().await;
                        }
                        tasks.push(work(unit));
                    }
                }
                Err(e) => {
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
        let drain = async { while tasks.next().await.is_some() {} };
        if tokio::time::timeout(self.shutdown_timeout, drain)
            .await
            .is_err()
        {
            // Dropping the handlers leaves their deliveries in `unsettled`.
            drop(tasks);
            let release = unsettled.release(&*self.transport, destination, RELEASE_TIMEOUT);
            release.await;
        }
        self.transport.stop(destination).await;
    }
}

/// The bound on releasing what the shutdown deadline left unsettled.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the next receive waits for the work in flight to settle.
const LINGER: Duration = Duration::from_millis(2);

fn receive_backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1 << failures.min(6));
    Duration::from_millis(ms.min(5_000))
}
