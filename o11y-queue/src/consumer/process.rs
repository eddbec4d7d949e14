//! Handling one delivery: span, handler, then ack, retry or dead-letter.

use std::{
    borrow::Cow,
    future::Future,
    panic::AssertUnwindSafe,
    pin::pin,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use futures_util::{
    FutureExt as _,
    future::{Either, select},
};
use o11y_core::CorrelationContextExt;
use opentelemetry::{
    Context, KeyValue,
    trace::{FutureExt as _, Link, SpanKind, Status, TraceContextExt},
};

use super::{
    Handler, Permanent, Settings,
    acks::AckQueue,
    release::{Held, Unsettled},
};
use crate::{
    carriage::{self, Extracted},
    instrument,
    message::{Delivery, Incoming},
    metrics, semconv,
    transport::Transport,
};

/// Everything a processing task needs, shared by all of them.
pub(super) struct Processor<T: Transport, H> {
    pub(super) transport: Arc<T>,
    /// Acks of handlers that finish together, sent as one broker call.
    pub(super) acks: AckQueue<T::Receipt>,
    pub(super) handler: Arc<H>,
    pub(super) settings: Settings,
    pub(super) destination: Arc<str>,
    /// The metric attributes of a message processed without error.
    pub(super) metric_ok: Vec<KeyValue>,
    /// Deliveries whose handler was dropped at the shutdown deadline.
    pub(super) unsettled: Arc<Unsettled<T::Receipt>>,
}

impl<T: Transport, H: Handler> Processor<T, H> {
    pub(super) async fn process(&self, delivery: Delivery<T::Receipt>) {
        let started = Instant::now();
        self.record_received(&delivery);
        let extracted = self.extract(&delivery);
        if let Some(rejected) = self.rejection(&delivery, &extracted) {
            return self.reject(delivery, &extracted, started, rejected).await;
        }
        let cx = self.start_span(&delivery, &extracted);
        let error = self.handle(&cx, delivery, extracted).await;
        cx.span().end();
        self.record_processed(started, error);
    }

    /// Runs the handler inside `cx`, then settles; returns the `error.type`.
    async fn handle(
        &self,
        cx: &Context,
        delivery: Delivery<T::Receipt>,
        extracted: Extracted,
    ) -> Option<&'static str> {
        let incoming = self.incoming(&delivery, extracted);
        let held = Held::new(&self.unsettled, vec![delivery]);
        // The call itself is inside the caught future: a panic in the
        // synchronous part of a closure is a failed attempt too, and that
        // part runs inside the CONSUMER span's context like the rest.
        let run = AssertUnwindSafe(async { self.handler.call(incoming).await }).catch_unwind();
        let outcome = self.leased(held.get(), run.with_context(cx.clone())).await;
        // Always the one delivery held above.
        let delivery = held.finish().pop()?;
        let permanent = matches!(&outcome, Ok(Err(e)) if e.is::<Permanent>());
        let (error, reason) = match outcome {
            Ok(Ok(())) => {
                self.ack(cx, delivery).await;
                return None;
            }
            Ok(Err(e)) => (semconv::ERROR_HANDLER, e.to_string()),
            Err(panic) => (semconv::ERROR_PANIC, panic_reason(&*panic)),
        };
        self.fail(cx, &delivery, error, &reason, permanent).await;
        Some(error)
    }
}

impl<T: Transport, H> Processor<T, H> {
    /// Runs `work`, extending the lease of `deliveries` every half
    /// [`Transport::lease`] while it runs.
    pub(super) async fn leased<F: Future>(
        &self,
        deliveries: &[Delivery<T::Receipt>],
        work: F,
    ) -> F::Output {
        let Some(lease) = self.transport.lease().filter(|l| !l.is_zero()) else {
            return work.await;
        };
        let keep = async {
            loop {
                tokio::time::sleep(lease / 2).await;
                for d in deliveries {
                    if let Err(e) = self.transport.extend(&self.destination, d).await {
                        tracing::warn!(error = %e, "could not extend a delivery's lease");
                    }
                }
            }
        };
        let (work, keep) = (pin!(work), pin!(keep));
        match select(work, keep).await {
            Either::Left((out, _)) => out,
            Either::Right(((), work)) => work.await,
        }
    }

    pub(super) fn extract(&self, delivery: &Delivery<T::Receipt>) -> Extracted {
        let propagator = &*self.settings.instrumentation.propagator;
        carriage::extract(propagator, &delivery.message)
    }

    /// What the handler sees of a delivery.
    pub(super) fn incoming(
        &self,
        delivery: &Delivery<T::Receipt>,
        extracted: Extracted,
    ) -> Incoming {
        Incoming {
            destination: self.destination.to_string(),
            payload: extracted.payload,
            headers: extracted.headers,
            id: delivery.id.clone(),
            attempt: delivery.attempt,
        }
    }

    /// Why a delivery goes to the dead letters without reaching the
    /// handler, if it does: its envelope cannot be read, or it came back
    /// more than `max_attempts` times (the attempt is counted by the broker
    /// before the handler runs, so a message that kills its consumer ends
    /// here instead of killing it forever).
    pub(super) fn rejection(
        &self,
        delivery: &Delivery<T::Receipt>,
        extracted: &Extracted,
    ) -> Option<(&'static str, String)> {
        if let Some(corrupt) = &extracted.corrupt {
            return Some((semconv::ERROR_ENVELOPE, corrupt.to_string()));
        }
        let max = self.settings.retry.max_attempts();
        (delivery.attempt > max).then(|| {
            let reason = format!(
                "{} deliveries were never settled (the consumer died or stopped during the handler); max_attempts is {max}",
                delivery.attempt - 1
            );
            (semconv::ERROR_UNSETTLED, reason)
        })
    }

    /// Dead-letters a delivery for `(error type, reason)`, in a span of its
    /// own: it never reaches the handler and is never dropped.
    pub(super) async fn reject(
        &self,
        mut delivery: Delivery<T::Receipt>,
        extracted: &Extracted,
        started: Instant,
        (error, reason): (&'static str, String),
    ) {
        let cx = self.start_span(&delivery, extracted);
        if error == semconv::ERROR_ENVELOPE {
            cx.span().add_event(semconv::EVENT_CORRUPT_ENVELOPE, vec![]);
        } else {
            // The attempts that ran: this delivery's handler does not.
            delivery.attempt = delivery.attempt.saturating_sub(1);
        }
        self.fail(&cx, &delivery, error, &reason, true).await;
        cx.span().end();
        self.record_processed(started, Some(error));
    }

    pub(super) fn record_processed(&self, started: Instant, error: Option<&'static str>) {
        let attrs = self.metric_attributes(error);
        let metrics = &self.settings.instrumentation.metrics;
        metrics
            .process_duration
            .record(metrics::secs(started.elapsed()), &attrs);
    }

    fn metric_attributes(&self, error: Option<&'static str>) -> Cow<'_, [KeyValue]> {
        match error {
            None => Cow::Borrowed(&self.metric_ok),
            Some(_) => {
                let system = self.transport.system();
                metrics::attributes(system, "process", &self.destination, error).into()
            }
        }
    }

    pub(super) fn record_received(&self, delivery: &Delivery<T::Receipt>) {
        let metrics = &self.settings.instrumentation.metrics;
        let attrs = self.metric_attributes(None);
        metrics.consumed.add(1, &attrs);
        metrics.attempt.record(u64::from(delivery.attempt), &attrs);
        if let Some(waited) = queue_time(delivery) {
            metrics.queue_time.record(metrics::secs(waited), &attrs);
        }
    }

    pub(super) fn start_span(
        &self,
        delivery: &Delivery<T::Receipt>,
        extracted: &Extracted,
    ) -> Context {
        let remote = extracted.cx.span().span_context().clone();
        let base = match self.settings.relation {
            super::Relation::Parent => extracted.cx.clone(),
            super::Relation::Link => without_span(&extracted.cx),
        };
        let links = if remote.is_valid() {
            let attrs = message_id(delivery).into_iter().collect();
            vec![Link::new(remote, attrs, 0)]
        } else {
            Vec::new()
        };
        let span = instrument::SpanStart {
            operation: "process",
            destination: &self.destination,
            kind: SpanKind::Consumer,
            links,
            attributes: || self.attributes(delivery, extracted),
        };
        instrument::start(&self.settings.instrumentation.tracer, &base, span)
    }

    pub(super) fn attributes(
        &self,
        delivery: &Delivery<T::Receipt>,
        extracted: &Extracted,
    ) -> Vec<KeyValue> {
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
            let id = opentelemetry::Value::from(id);
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

    async fn ack(&self, cx: &Context, delivery: Delivery<T::Receipt>) {
        cx.span()
            .set_attribute(KeyValue::new(semconv::OUTCOME, "ack"));
        let settled = self.acks.ack(&*self.transport, &self.destination, delivery);
        if let Err(e) = settled.with_context(cx.clone()).await {
            settle_failed(cx, &e);
        }
    }

    pub(super) async fn fail(
        &self,
        cx: &Context,
        delivery: &Delivery<T::Receipt>,
        error_type: &'static str,
        reason: &str,
        permanent: bool,
    ) -> &'static str {
        let span = cx.span();
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
        span.set_status(Status::error(reason.to_owned()));
        let attempt = delivery.attempt;
        let dead = permanent || attempt >= self.settings.retry.max_attempts();
        let settled = if dead {
            span.set_attribute(KeyValue::new(semconv::OUTCOME, "dead_letter"));
            let target = self.transport.dead_letter_destination(&self.destination);
            let mut attrs = vec![
                KeyValue::new("attempts", i64::from(attempt)),
                KeyValue::new("destination", target),
            ];
            attrs.extend(message_id(delivery));
            span.add_event(semconv::EVENT_DEAD_LETTER, attrs);
            let dlq = self
                .transport
                .dead_letter(&self.destination, delivery, reason);
            dlq.with_context(cx.clone()).await
        } else {
            let delay = self.settings.retry.delay(attempt);
            span.set_attribute(KeyValue::new(semconv::OUTCOME, "retry"));
            let mut attrs = vec![
                KeyValue::new("attempt", i64::from(attempt)),
                KeyValue::new(
                    "delay_ms",
                    i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
                ),
            ];
            attrs.extend(message_id(delivery));
            span.add_event(semconv::EVENT_RETRY, attrs);
            let retry = self.transport.retry(&self.destination, delivery, delay);
            retry.with_context(cx.clone()).await
        };
        if let Err(e) = settled {
            settle_failed(cx, &e.to_string());
        }
        if dead { "dead_letter" } else { "retry" }
    }
}

/// `messaging.message.id` of a delivery, for events and links.
pub(super) fn message_id<R>(delivery: &Delivery<R>) -> Option<KeyValue> {
    let id = delivery.id.clone()?;
    Some(KeyValue::new(semconv::MESSAGING_MESSAGE_ID, id))
}

/// How long the delivery waited, where the broker says when it was enqueued.
pub(super) fn queue_time<R>(delivery: &Delivery<R>) -> Option<Duration> {
    let at = delivery.enqueued_at?;
    SystemTime::now().duration_since(at).ok()
}

/// The correlation id of `cx` without its span: the base of a linked trace.
pub(super) fn without_span(cx: &Context) -> Context {
    match cx.correlation_id() {
        Some(id) => Context::new().with_correlation_id(id),
        None => Context::new(),
    }
}

/// `handler panicked: {message}`, with the panic's message when it is text.
pub(super) fn panic_reason(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    match message {
        Some(m) => format!("handler panicked: {m}"),
        None => "handler panicked".to_owned(),
    }
}

pub(super) fn settle_failed(cx: &Context, message: &str) {
    tracing::warn!(error = %message, "could not settle a delivery; the broker will redeliver it");
    cx.span().add_event(
        semconv::EVENT_SETTLE_FAILED,
        vec![KeyValue::new("exception.message", message.to_owned())],
    );
}
