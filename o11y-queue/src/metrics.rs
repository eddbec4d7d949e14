//! Messaging metrics: the semantic-convention instruments, plus the time a
//! message waited in the queue and its delivery attempt.

use std::time::Duration;

use opentelemetry::{
    InstrumentationScope, KeyValue,
    metrics::{Counter, Histogram, Meter, MeterProvider},
};

use crate::instrument::SCOPE;

/// `messaging.client.operation.duration` (s): how long a publish took.
pub const OPERATION_DURATION: &str = "messaging.client.operation.duration";
/// `messaging.client.sent.messages`: messages a producer tried to send.
pub const SENT_MESSAGES: &str = "messaging.client.sent.messages";
/// `messaging.client.consumed.messages`: messages handed to a handler.
pub const CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
/// `messaging.process.duration` (s): handler plus settlement.
pub const PROCESS_DURATION: &str = "messaging.process.duration";
/// `o11y.messaging.queue_time` (s): how long a message waited in the queue.
pub const QUEUE_TIME: &str = "o11y.messaging.queue_time";
/// `o11y.messaging.delivery.attempt`: the attempt of each processed delivery.
pub const DELIVERY_ATTEMPT: &str = "o11y.messaging.delivery.attempt";

/// Bucket boundaries (s) the messaging conventions recommend for durations.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The instruments, made once per producer or consumer.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    pub(crate) operation_duration: Histogram<f64>,
    pub(crate) sent: Counter<u64>,
    pub(crate) consumed: Counter<u64>,
    pub(crate) process_duration: Histogram<f64>,
    pub(crate) queue_time: Histogram<f64>,
    pub(crate) attempt: Histogram<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(&opentelemetry::global::meter_with_scope(scope()))
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

impl Metrics {
    pub(crate) fn from_provider(provider: &impl MeterProvider) -> Self {
        Self::new(&provider.meter_with_scope(scope()))
    }

    fn new(meter: &Meter) -> Self {
        let seconds = |name: &'static str, description: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build()
        };
        Self {
            operation_duration: seconds(OPERATION_DURATION, "Duration of a messaging operation"),
            sent: meter
                .u64_counter(SENT_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages a producer attempted to send")
                .build(),
            consumed: meter
                .u64_counter(CONSUMED_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages delivered to a handler")
                .build(),
            process_duration: seconds(PROCESS_DURATION, "Duration of processing one message"),
            queue_time: seconds(QUEUE_TIME, "Time a message waited in the queue"),
            attempt: meter
                .u64_histogram(DELIVERY_ATTEMPT)
                .with_unit("{attempt}")
                .with_description("Delivery attempt of each processed message")
                .with_boundaries(vec![1.0, 2.0, 3.0, 5.0, 10.0])
                .build(),
        }
    }
}

/// `d` in seconds.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The low-cardinality attributes of a metric point.
pub(crate) fn attributes(
    system: &'static str,
    operation: &'static str,
    destination: &str,
    error: Option<&'static str>,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(4);
    attrs.push(KeyValue::new(crate::semconv::MESSAGING_SYSTEM, system));
    attrs.push(KeyValue::new(
        crate::semconv::MESSAGING_OPERATION_NAME,
        operation,
    ));
    attrs.push(KeyValue::new(
        crate::semconv::MESSAGING_DESTINATION_NAME,
        crate::instrument::string(destination),
    ));
    if let Some(e) = error {
        attrs.push(KeyValue::new(crate::semconv::ERROR_TYPE, e));
    }
    attrs
}
