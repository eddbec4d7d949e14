//! The span side: a processor that admits spans into the SDK's batch
//! processor against the limits, and an exporter that gives their bytes
//! back when a batch is done.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::Context;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{BatchConfigBuilder, BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor},
};

use super::{Held, Queue, Reason, size};
use crate::config::QueueLimits;

/// A batch span processor over `exporter`, bounded by `limits`, and its accounting.
pub(crate) fn spans<E: SpanExporter + 'static>(
    exporter: E,
    limits: QueueLimits,
) -> (Bounded<BatchSpanProcessor>, Arc<Queue>) {
    let queue = Queue::new("spans", limits);
    let exporter = Counted {
        inner: exporter,
        queue: queue.clone(),
    };
    // The SDK's channel never holds more than we admitted: it never drops.
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(limits.max_items)
        .build();
    let inner = BatchSpanProcessor::builder(exporter)
        .with_batch_config(config)
        .build();
    (Bounded::new(inner, queue.clone()), queue)
}

/// Admits each ended span into `inner` while the queue has room.
#[derive(Debug)]
pub(crate) struct Bounded<P> {
    inner: P,
    queue: Arc<Queue>,
    closed: AtomicBool,
}

impl<P> Bounded<P> {
    pub(super) fn new(inner: P, queue: Arc<Queue>) -> Self {
        Self {
            inner,
            queue,
            closed: AtomicBool::new(false),
        }
    }

    /// Whether an item of `bytes` goes on: not after shutdown began, and
    /// only within the limits. A refusal is counted.
    pub(super) fn admit(&self, bytes: impl FnOnce() -> usize) -> bool {
        if self.closed.load(Ordering::Acquire) {
            self.queue.count(Reason::Shutdown, 1);
            return false;
        }
        self.queue.admit(bytes())
    }

    /// Shuts `inner` down with `stop`. Once it returned `Ok`, its worker
    /// is gone: anything still held (an item that raced the shutdown) will
    /// never be exported. On a timeout the worker still runs and releases
    /// what it exports.
    pub(super) fn close(&self, stop: impl FnOnce(&P) -> OTelSdkResult) -> OTelSdkResult {
        self.closed.store(true, Ordering::Release);
        let result = stop(&self.inner);
        if result.is_ok() {
            self.queue.abandon();
        }
        result
    }

    pub(super) fn inner(&self) -> &P {
        &self.inner
    }

    pub(super) fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }
}

impl<P: SpanProcessor> SpanProcessor for Bounded<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.admit(|| size::span(&span)) {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.close(|p| p.shutdown_with_timeout(timeout))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Releases what a batch held when the export is over, however it ends.
pub(super) struct Release<'a>(pub(super) &'a Queue, pub(super) Held);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

/// An exporter that releases each batch's items and counts failed ones.
#[derive(Debug)]
pub(crate) struct Counted<E> {
    pub(super) inner: E,
    pub(super) queue: Arc<Queue>,
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let held = Held {
            items: batch.len(),
            bytes: batch.iter().map(size::span).sum(),
        };
        let _release = Release(&self.queue, held);
        let result = self.inner.export(batch).await;
        if result.is_err() {
            self.queue.count(Reason::ExportFailed, held.items);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
