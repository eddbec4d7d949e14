//! Handling one delivery: span, handler, then ack, retry or dead-letter.

use std::{
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use futures_util::FutureExt as _;
use o11y_core::CorrelationContextExt;
use opentelemetry::{
    Context, KeyValue,
    trace::{FutureExt as _, Link, SpanKind, Status, TraceContextExt, Tracer},
};

use super::{Handler, Settings};
use crate::{
    carriage::{self, Extracted},
    instrument,
    message::{Delivery, Incoming},
    metrics, semconv,
    transport::Transport,
};

/// Everything a processing task needs, shared by all of them.
pub(super) struct Processor<T, H> {
    pub(super) transport: Arc<T>,
    pub(super) handler: Arc<H>,
    pub(super) settings: Settings,
    pub(super) destination: Arc<str>,
}

impl<T: Transport, H: Handler> Processor<T, H> {
    pub(super) async fn process(&self, delivery: Delivery<T::Receipt>) {
        let started = Instant::now();
        self.record_received(&delivery);
        let propagator = &*self.settings.instrumentation.propagator;
        let extracted = carriage::extract(propagator, &delivery.message);
        let cx = self.start_span(&delivery, &extracted);
        let error = match extracted.corrupt {
            Some(err) => {
                cx.span().add_event(semconv::EVENT_CORRUPT_ENVELOPE, vec![]);
                let reason = err.to_string();
                self.fail(&cx, &delivery, semconv::ERROR_ENVELOPE, &reason, true)
                    .await;
                Some(semconv::ERROR_ENVELOPE)
            }
            None => self.handle(&cx, &delivery, extracted).await,
        };
        cx.span().end();
        let attrs = self.metric_attributes(error);
        let metrics = &self.settings.instrumentation.metrics;
        metrics
            .process_duration
            .record(metrics::secs(started.elapsed()), &attrs);
    }

    /// Runs the handler inside `cx`, then settles; returns the `error.type`.
    async fn handle(
        &self,
        cx: &Context,
        delivery: &Delivery<T::Receipt>,
        extracted: Extracted,
    ) -> Option<&'static str> {
        let incoming = Incoming {
            destination: self.destination.to_string(),
            payload: extracted.payload,
            headers: extracted.headers,
            id: delivery.id.clone(),
            attempt: delivery.attempt,
        };
        let run = AssertUnwindSafe(self.handler.call(incoming)).catch_unwind();
        let (error, reason) = match run.with_context(cx.clone()).await {
            Ok(Ok(())) => {
                self.ack(cx, delivery).await;
                return None;
            }
            Ok(Err(e)) => (semconv::ERROR_HANDLER, e.to_string()),
            Err(_) => (semconv::ERROR_PANIC, "handler panicked".to_owned()),
        };
        self.fail(cx, delivery, error, &reason, false).await;
        Some(error)
    }

    fn metric_attributes(&self, error: Option<&'static str>) -> Vec<KeyValue> {
        let system = self.transport.system();
        metrics::attributes(system, "process", &self.destination, error)
    }

    fn record_received(&self, delivery: &Delivery<T::Receipt>) {
        let metrics = &self.settings.instrumentation.metrics;
        let attrs = self.metric_attributes(None);
        metrics.consumed.add(1, &attrs);
        metrics.attempt.record(u64::from(delivery.attempt), &attrs);
        if let Some(waited) = queue_time(delivery) {
            metrics.queue_time.record(metrics::secs(waited), &attrs);
        }
    }

    fn start_span(&self, delivery: &Delivery<T::Receipt>, extracted: &Extracted) -> Context {
        let remote = extracted.cx.span().span_context().clone();
        let base = match self.settings.relation {
            super::Relation::Parent => extracted.cx.clone(),
            super::Relation::Link => without_span(&extracted.cx),
        };
        let tracer = &self.settings.instrumentation.tracer;
        let mut builder = tracer
            .span_builder(instrument::span_name("process", &self.destination))
            .with_kind(SpanKind::Consumer)
            .with_attributes(self.attributes(delivery, extracted));
        if remote.is_valid() {
            builder = builder.with_links(vec![Link::with_context(remote)]);
        }
        base.with_span(tracer.build_with_context(builder, &base))
    }

    fn attributes(&self, delivery: &Delivery<T::Receipt>, extracted: &Extracted) -> Vec<KeyValue> {
        let mut attrs = instrument::base_attributes(&*self.transport, "process", &self.destination);
        let size = i64::try_from(extracted.payload.len()).unwrap_or(i64::MAX);
        attrs.push(KeyValue::new(semconv::MESSAGING_MESSAGE_BODY_SIZE, size));
        attrs.push(KeyValue::new(
            semconv::DELIVERY_ATTEMPT,
            i64::from(delivery.attempt),
        ));
        attrs.push(KeyValue::new(
            semconv::CONTEXT_SOURCE,
            extracted.source.as_str(),
        ));
        if let Some(id) = &delivery.id {
            attrs.push(KeyValue::new(semconv::MESSAGING_MESSAGE_ID, id.clone()));
        }
        if let Some(id) = extracted.cx.correlation_id() {
            let id = id.as_str().to_owned();
            attrs.push(KeyValue::new(
                semconv::MESSAGING_MESSAGE_CONVERSATION_ID,
                id,
            ));
        }
        attrs.extend(self.transport.delivery_attributes(delivery));
        if let Some(waited) = queue_time(delivery) {
            attrs.push(KeyValue::new(semconv::QUEUE_TIME, waited.as_secs_f64()));
        }
        attrs
    }

    async fn ack(&self, cx: &Context, delivery: &Delivery<T::Receipt>) {
        cx.span()
            .set_attribute(KeyValue::new(semconv::OUTCOME, "ack"));
        let settled = self.transport.ack(&self.destination, delivery);
        if let Err(e) = settled.with_context(cx.clone()).await {
            settle_failed(cx, &e);
        }
    }

    async fn fail(
        &self,
        cx: &Context,
        delivery: &Delivery<T::Receipt>,
        error_type: &'static str,
        reason: &str,
        permanent: bool,
    ) {
        let span = cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        span.set_status(Status::error(reason.to_owned()));
        let attempt = delivery.attempt;
        let settled = if permanent || attempt >= self.settings.retry.max_attempts() {
            span.set_attribute(KeyValue::new(semconv::OUTCOME, "dead_letter"));
            let target = self.transport.dead_letter_destination(&self.destination);
            span.add_event(
                semconv::EVENT_DEAD_LETTER,
                vec![
                    KeyValue::new("attempts", i64::from(attempt)),
                    KeyValue::new("destination", target),
                ],
            );
            let dlq = self
                .transport
                .dead_letter(&self.destination, delivery, reason);
            dlq.with_context(cx.clone()).await
        } else {
            let delay = self.settings.retry.delay(attempt);
            span.set_attribute(KeyValue::new(semconv::OUTCOME, "retry"));
            span.add_event(
                semconv::EVENT_RETRY,
                vec![
                    KeyValue::new("attempt", i64::from(attempt)),
                    KeyValue::new(
                        "delay_ms",
                        i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
                    ),
                ],
            );
            let retry = self.transport.retry(&self.destination, delivery, delay);
            retry.with_context(cx.clone()).await
        };
        if let Err(e) = settled {
            settle_failed(cx, &e);
        }
    }
}

/// How long the delivery waited, where the broker says when it was enqueued.
fn queue_time<R>(delivery: &Delivery<R>) -> Option<Duration> {
    let at = delivery.enqueued_at?;
    SystemTime::now().duration_since(at).ok()
}

/// The correlation id of `cx` without its span: the base of a linked trace.
fn without_span(cx: &Context) -> Context {
    match cx.correlation_id() {
        Some(id) => Context::new().with_correlation_id(id.clone()),
        None => Context::new(),
    }
}

fn settle_failed(cx: &Context, error: &crate::TransportError) {
    let message = error.to_string();
    tracing::warn!(error = %message, "could not settle a delivery; the broker will redeliver it");
    cx.span().add_event(
        semconv::EVENT_SETTLE_FAILED,
        vec![KeyValue::new("exception.message", message)],
    );
}
