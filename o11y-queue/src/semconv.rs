//! Attribute names on queue spans: the OpenTelemetry messaging conventions,
//! plus the few this crate adds under `o11y.messaging.`.

pub use opentelemetry_semantic_conventions::attribute::{
    AWS_SQS_QUEUE_URL, ERROR_TYPE, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_DESTINATION_NAME,
    MESSAGING_MESSAGE_BODY_SIZE, MESSAGING_MESSAGE_CONVERSATION_ID, MESSAGING_MESSAGE_ID,
    MESSAGING_OPERATION_NAME, MESSAGING_OPERATION_TYPE, MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
    MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG, MESSAGING_SYSTEM, SERVER_ADDRESS, SERVER_PORT,
};

/// Delivery attempt, 1 for the first delivery (no convention exists).
pub const DELIVERY_ATTEMPT: &str = "o11y.messaging.delivery.attempt";
/// Seconds the message waited in the queue, where the broker records the enqueue time.
pub const QUEUE_TIME: &str = "o11y.messaging.queue_time";
/// Where the consumer found the context: `native`, `envelope`, `json_field` or `none`.
pub const CONTEXT_SOURCE: &str = "o11y.messaging.context.source";
/// What became of the delivery: `ack`, `retry` or `dead_letter`.
pub const OUTCOME: &str = "o11y.messaging.outcome";

/// Span event: the handler failed and the delivery will come back.
pub const EVENT_RETRY: &str = "retry";
/// Span event: the delivery was moved to the dead-letter queue.
pub const EVENT_DEAD_LETTER: &str = "dead_letter";
/// Span event: the payload looked like an envelope but could not be read.
pub const EVENT_CORRUPT_ENVELOPE: &str = "corrupt_envelope";
/// Span event: settling the delivery with the broker failed.
pub const EVENT_SETTLE_FAILED: &str = "settle_failed";

/// `error.type` of a handler failure.
pub const ERROR_HANDLER: &str = "handler_error";
/// `error.type` of a handler panic.
pub const ERROR_PANIC: &str = "handler_panic";
/// `error.type` of an unreadable envelope.
pub const ERROR_ENVELOPE: &str = "corrupt_envelope";
/// `error.type` of a delivery that came back more than `max_attempts` times
/// without being settled (its consumer died or stopped during the handler):
/// dead-lettered before its handler runs again.
pub const ERROR_UNSETTLED: &str = "attempts_exhausted";
