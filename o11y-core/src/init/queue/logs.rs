//! The log side: the same [`Bounded`] processor and [`Counted`] exporter
//! as for spans, over the SDK's batch log processor.

use std::{sync::Arc, time::Duration};

use opentelemetry::{InstrumentationScope, logs::Severity};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    logs::{
        BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, LogProcessor, SdkLogRecord,
    },
};

use super::{
    Held, Queue, Reason, size,
    spans::{Bounded, Counted, Release},
};
use crate::config::QueueLimits;

/// A batch log processor over `exporter`, bounded by `limits`, and its accounting.
pub(crate) fn logs<E: LogExporter + 'static>(
    exporter: E,
    limits: QueueLimits,
) -> (Bounded<BatchLogProcessor>, Arc<Queue>) {
    let queue = Queue::new("logs", limits);
    let exporter = Counted {
        inner: exporter,
        queue: queue.clone(),
    };
    // The SDK's channel never holds more than we admitted: it never drops.
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(limits.max_items)
        .build();
    let inner = BatchLogProcessor::builder(exporter)
        .with_batch_config(config)
        .build();
    (Bounded::new(inner, queue.clone()), queue)
}

impl<P: LogProcessor> LogProcessor for Bounded<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if self.admit(|| size::log(record, scope)) {
            self.inner().emit(record, scope);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner().force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.close(|p| p.shutdown_with_timeout(timeout))
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner().event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner_mut().set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Counted<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let held = batch
            .iter()
            .fold(Held::default(), |h, (record, scope)| Held {
                items: h.items + 1,
                bytes: h.bytes + size::log(record, scope),
            });
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

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
