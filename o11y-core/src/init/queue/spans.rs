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

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::{error::OTelSdkError, trace::SdkTracerProvider};

    use super::*;

    /// An exporter that waits for its gate to open, then counts the spans
    /// it got (or fails, if so made).
    #[derive(Debug, Clone, Default)]
    struct Gate {
        state: Arc<(Mutex<(bool, usize)>, Condvar)>,
        fail: bool,
    }

    impl Gate {
        fn open(&self) {
            self.state.0.lock().unwrap().0 = true;
            self.state.1.notify_all();
        }
        fn exported(&self) -> usize {
            self.state.0.lock().unwrap().1
        }
    }

    impl SpanExporter for Gate {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            let (lock, open) = &*self.state;
            let mut state = lock.lock().unwrap();
            while !state.0 {
                state = open.wait(state).unwrap();
            }
            if self.fail {
                return Err(OTelSdkError::InternalFailure("refused".into()));
            }
            state.1 += batch.len();
            Ok(())
        }
    }

    fn provider(gate: &Gate, max_items: usize) -> (SdkTracerProvider, Arc<Queue>) {
        let limits = QueueLimits {
            max_items,
            max_bytes: usize::MAX,
        };
        let (processor, queue) = spans(gate.clone(), limits);
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .build();
        (provider, queue)
    }

    fn end_spans(provider: &SdkTracerProvider, n: usize) {
        let tracer = provider.tracer("t");
        (0..n).for_each(|_| tracer.in_span("s", |_| {}));
    }

    /// We refuse at the SDK's own count: the SDK never drops a span we
    /// admitted, so every admitted span is exported and its bytes come back.
    #[test]
    fn the_sdk_never_drops_before_us_and_every_byte_comes_back() {
        let gate = Gate::default();
        let (provider, queue) = provider(&gate, 4);
        end_spans(&provider, 20);
        assert_eq!(queue.held().items, 4);
        assert_eq!(queue.dropped(Reason::QueueFull), 16);
        gate.open();
        provider.force_flush().unwrap();
        assert_eq!(gate.exported(), 4);
        assert_eq!(queue.held(), Held::default());
        end_spans(&provider, 3);
        provider.force_flush().unwrap();
        assert_eq!(gate.exported(), 7);
        assert_eq!(queue.dropped(Reason::QueueFull), 16);
        provider.shutdown().unwrap();
        assert_eq!(queue.held(), Held::default());
        assert_eq!(queue.dropped(Reason::Shutdown), 0);
    }

    #[test]
    fn a_failed_export_counts_its_spans_and_releases_their_bytes() {
        let gate = Gate {
            fail: true,
            ..Gate::default()
        };
        gate.open();
        let (provider, queue) = provider(&gate, 100);
        end_spans(&provider, 5);
        let _ = provider.force_flush();
        assert_eq!(queue.dropped(Reason::ExportFailed), 5);
        assert_eq!(queue.held(), Held::default());
    }

    #[test]
    fn spans_ending_after_shutdown_are_counted_never_held() {
        let gate = Gate::default();
        gate.open();
        let limits = QueueLimits::default();
        let (processor, queue) = spans(gate.clone(), limits);
        let span = {
            let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
            let p = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            p.tracer("t").in_span("s", |_| {});
            exporter.get_finished_spans().unwrap().remove(0)
        };
        processor.on_end(span.clone());
        processor.shutdown().unwrap();
        assert_eq!(
            gate.exported(),
            1,
            "what was queued is exported at shutdown"
        );
        processor.on_end(span);
        assert_eq!(queue.dropped(Reason::Shutdown), 1);
        assert_eq!(queue.held(), Held::default());
    }
}
