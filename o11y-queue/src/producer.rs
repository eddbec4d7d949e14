//! [`Producer`]: a PRODUCER span per message, context injected.

use opentelemetry::{
    Context, KeyValue,
    global::ObjectSafeTracerProvider,
    metrics::MeterProvider,
    propagation::TextMapPropagator,
    trace::{FutureExt, SpanKind, Status, TraceContextExt, TracerProvider},
};

use std::time::Instant;

use o11y_core::CorrelationContextExt;

use crate::{
    carriage::{self, Carriage},
    instrument::{self, Instrumentation},
    message::{Message, Published},
    metrics, semconv,
    transport::{Transport, TransportError},
};

/// Publishes messages inside a `send {destination}` PRODUCER span and carries
/// the trace context and correlation id to the consumer.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use o11y_queue::{MemoryTransport, Producer};
///
/// let producer = Producer::new(MemoryTransport::new());
/// producer.publish("orders", r#"{"id":42}"#).await.unwrap();
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Producer<T> {
    transport: T,
    instrumentation: Instrumentation,
    carriage: Carriage,
}

impl<T: Transport> Producer<T> {
    /// A producer on `transport`, using the global tracer provider and the
    /// propagator [`o11y_core::init`] installed.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            instrumentation: Instrumentation::default(),
            carriage: Carriage::default(),
        }
    }

    /// Makes spans with `provider` instead of the global one.
    pub fn with_tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider + ObjectSafeTracerProvider,
    {
        self.instrumentation.set_provider(provider);
        self
    }

    /// Records metrics with `provider` instead of the global one.
    pub fn with_meter_provider(mut self, provider: &impl MeterProvider) -> Self {
        self.instrumentation.set_meter_provider(provider);
        self
    }

    /// Injects with `propagator` instead of the global one.
    pub fn with_propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.instrumentation.set_propagator(propagator);
        self
    }

    /// Traces, measures and injects with the providers and propagator of
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
            // As the default: the correlation id only when it is not the trace id.
            self = self.with_propagator(propagator.with_implied_correlation(false));
        }
        self
    }

    /// Chooses where the context rides (default [`Carriage::Native`]).
    pub fn with_carriage(mut self, carriage: Carriage) -> Self {
        self.carriage = carriage;
        self
    }

    /// The transport.
    pub fn get_ref(&self) -> &T {
        &self.transport
    }

    /// Publishes `message` to `destination`, as a child of the current context.
    pub async fn publish(
        &self,
        destination: &str,
        message: impl Into<Message>,
    ) -> Result<Published, TransportError> {
        let parent = Context::current();
        self.publish_with_context(&parent, destination, message)
            .await
    }

    /// Publishes `message` to `destination`, as a child of `parent`.
    pub async fn publish_with_context(
        &self,
        parent: &Context,
        destination: &str,
        message: impl Into<Message>,
    ) -> Result<Published, TransportError> {
        let mut message = message.into();
        let cx = self.start_span(parent, destination, &message);
        let native = self.transport.native_headers();
        let propagator = &*self.instrumentation.propagator;
        carriage::inject(propagator, &cx, self.carriage, native, &mut message);
        let started = Instant::now();
        let result = self
            .transport
            .publish(destination, message)
            .with_context(cx.clone())
            .await;
        let span = cx.span();
        if span.is_recording() {
            // After the publish: the broker's own names are known by then.
            span.set_attributes(self.transport.publish_attributes(destination));
        }
        finish(&cx, &result);
        let error = result.as_ref().err().map(|_| "publish_error");
        let attrs = metrics::attributes(self.transport.system(), "send", destination, error);
        let m = &self.instrumentation.metrics;
        m.operation_duration
            .record(metrics::secs(started.elapsed()), &attrs);
        m.sent.add(1, &attrs);
        result
    }

    fn start_span(&self, parent: &Context, destination: &str, message: &Message) -> Context {
        let attributes = || {
            let mut attrs = instrument::base_attributes(&self.transport, "send", destination);
            let size = i64::try_from(message.payload.len()).unwrap_or(i64::MAX);
            attrs.push(KeyValue::new(semconv::MESSAGING_MESSAGE_BODY_SIZE, size));
            if let Some(id) = parent.correlation_id() {
                let id = opentelemetry::Value::from(id);
                attrs.push(KeyValue::new(
                    semconv::MESSAGING_MESSAGE_CONVERSATION_ID,
                    id,
                ));
            }
            attrs
        };
        let span = instrument::SpanStart {
            operation: "send",
            destination,
            kind: SpanKind::Producer,
            links: Vec::new(),
            attributes,
        };
        instrument::start(&self.instrumentation.tracer, parent, span)
    }
}

fn finish(cx: &Context, result: &Result<Published, TransportError>) {
    let span = cx.span();
    match result {
        Ok(published) => {
            if let Some(id) = &published.id {
                span.set_attribute(KeyValue::new(semconv::MESSAGING_MESSAGE_ID, id.clone()));
            }
        }
        Err(e) => {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, "publish_error"));
            span.set_status(Status::error(e.to_string()));
        }
    }
    span.end();
}
