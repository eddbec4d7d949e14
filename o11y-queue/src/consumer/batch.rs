//! Handling a batch: one `process` CONSUMER span linking every message, the
//! handler once, then one ack for all, or a retry (or dead letter) for each.

use std::{collections::BTreeSet, panic::AssertUnwindSafe, time::Instant};

use futures_util::{FutureExt as _, future::join_all};
use o11y_core::{CorrelationContextExt, CorrelationId};
use opentelemetry::{
    Context, KeyValue,
    trace::{FutureExt as _, Link, SpanKind, TraceContextExt, Tracer},
};

use super::{
    BatchFailed, BatchHandler,
    process::{Processor, message_id, panic_reason, settle_failed},
    release::Held,
};
use crate::{carriage::Extracted, instrument, message::Delivery, semconv, transport::Transport};

impl<T: Transport, B: BatchHandler> Processor<T, B> {
    pub(super) async fn process_batch(&self, deliveries: Vec<Delivery<T::Receipt>>) {
        let started = Instant::now();
        let mut batch = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            self.record_received(&delivery);
            let extracted = self.extract(&delivery);
            match self.rejection(&delivery, &extracted) {
                Some(rejected) => self.reject(delivery, &extracted, started, rejected).await,
                None => batch.push((delivery, extracted)),
            }
        }
        if batch.is_empty() {
            return;
        }
        let cx = self.start_batch_span(&batch);
        let (deliveries, incoming): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|(d, extracted)| {
                let incoming = self.incoming(&d, extracted);
                (d, incoming)
            })
            .unzip();
        // The call inside the caught future: see `Processor::handle`.
        let held = Held::new(&self.unsettled, deliveries);
        let run = AssertUnwindSafe(async { self.handler.call(incoming).await }).catch_unwind();
        let outcome = self.leased(held.get(), run.with_context(cx.clone())).await;
        let mut deliveries = held.finish();
        let mut failed_only = None;
        let error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => match e.downcast::<BatchFailed>() {
                Ok(partial) => {
                    failed_only = Some(partial.failed);
                    Some((semconv::ERROR_HANDLER, partial.reason))
                }
                Err(e) => Some((semconv::ERROR_HANDLER, e.to_string())),
            },
            Err(panic) => Some((semconv::ERROR_PANIC, panic_reason(&*panic))),
        };
        let Some((error_type, reason)) = &error else {
            self.ack_all(&cx, &deliveries).await;
            cx.span().end();
            return self.record_processed(started, None);
        };
        // The handler named the failed messages: the others are acked.
        let mut outcomes = BTreeSet::new();
        if let Some(failed) = failed_only {
            let all = std::mem::take(&mut deliveries);
            let (bad, good): (Vec<_>, Vec<_>) = all
                .into_iter()
                .enumerate()
                .partition(|(i, _)| failed.contains(i));
            let good: Vec<_> = good.into_iter().map(|(_, d)| d).collect();
            if !good.is_empty() {
                self.ack_all(&cx, &good).await;
                outcomes.insert("ack");
            }
            deliveries = bad.into_iter().map(|(_, d)| d).collect();
        }
        let failed = deliveries
            .iter()
            .map(|d| self.fail(&cx, d, error_type, reason, false));
        outcomes.extend(join_all(failed).await);
        if outcomes.len() > 1 {
            cx.span()
                .set_attribute(KeyValue::new(semconv::OUTCOME, "mixed"));
        }
        cx.span().end();
        self.record_processed(started, error.map(|(e, _)| e));
    }

    /// One CONSUMER span for the batch. A batch of one is a single message
    /// (parent or link per [`Relation`](super::Relation)); a larger batch
    /// starts its own trace and links every message's producer span, as the
    /// messaging conventions describe for batch processing.
    fn start_batch_span(&self, batch: &[(Delivery<T::Receipt>, Extracted)]) -> Context {
        let count = i64::try_from(batch.len()).unwrap_or(i64::MAX);
        let count = KeyValue::new(semconv::MESSAGING_BATCH_MESSAGE_COUNT, count);
        if let [(delivery, extracted)] = batch {
            let cx = self.start_span(delivery, extracted);
            cx.span().set_attribute(count);
            return cx;
        }
        let mut attrs = instrument::base_attributes(&*self.transport, "process", &self.destination);
        attrs.push(count);
        let attempt = batch.iter().map(|(d, _)| d.attempt).max().unwrap_or(1);
        attrs.push(KeyValue::new(semconv::DELIVERY_ATTEMPT, i64::from(attempt)));
        let correlation = shared_correlation(batch);
        if let Some(id) = &correlation {
            let id = opentelemetry::Value::from(id);
            attrs.push(KeyValue::new(
                semconv::MESSAGING_MESSAGE_CONVERSATION_ID,
                id,
            ));
        }
        let links = batch
            .iter()
            .filter_map(|(delivery, extracted)| {
                let remote = extracted.cx.span().span_context().clone();
                let attrs = message_id(delivery).into_iter().collect();
                remote.is_valid().then(|| Link::new(remote, attrs, 0))
            })
            .collect();
        let base = match correlation {
            Some(id) => Context::new().with_correlation_id(id),
            None => Context::new(),
        };
        let tracer = &self.settings.instrumentation.tracer;
        let builder = tracer
            .span_builder(instrument::span_name("process", &self.destination))
            .with_kind(SpanKind::Consumer)
            .with_attributes(attrs)
            .with_links(links);
        base.with_span(tracer.build_with_context(builder, &base))
    }

    /// Acks the whole batch in one broker call where the broker allows it.
    async fn ack_all(&self, cx: &Context, deliveries: &[Delivery<T::Receipt>]) {
        cx.span()
            .set_attribute(KeyValue::new(semconv::OUTCOME, "ack"));
        let refs: Vec<&Delivery<T::Receipt>> = deliveries.iter().collect();
        let settled = self.transport.ack_batch(&self.destination, &refs);
        if let Err(e) = settled.with_context(cx.clone()).await {
            settle_failed(cx, &e.to_string());
        }
    }
}

/// The correlation id every message of the batch carries, if they agree.
fn shared_correlation<R>(batch: &[(Delivery<R>, Extracted)]) -> Option<CorrelationId> {
    let mut ids = batch.iter().map(|(_, e)| e.cx.correlation_id());
    let first = ids.next().flatten()?;
    ids.all(|id| id.as_ref() == Some(&first)).then_some(first)
}
