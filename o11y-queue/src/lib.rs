//! Trace context across message queues: a `send` PRODUCER span on publish, a
//! `process` CONSUMER span around the handler that continues the producer's
//! trace, the correlation id carried along, retries, dead letters, and the
//! OpenTelemetry messaging semantic conventions. One API over several brokers.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use o11y_queue::{Consumer, Incoming, MemoryTransport, Producer};
//!
//! let queue = MemoryTransport::new();
//! let producer = Producer::new(queue.clone());
//! producer.publish("orders", r#"{"id":42}"#).await.unwrap();
//!
//! let (done, stop) = tokio::sync::oneshot::channel::<()>();
//! let done = std::sync::Mutex::new(Some(done));
//! Consumer::new(queue)
//!     .run_until("orders", move |message: Incoming| {
//!         // Runs inside the producer's trace.
//!         assert_eq!(&message.payload[..], br#"{"id":42}"#);
//!         if let Some(done) = done.lock().unwrap().take() { let _ = done.send(()); }
//!         async { Ok::<_, std::io::Error>(()) }
//!     }, async { let _ = stop.await; })
//!     .await;
//! # }
//! ```
//!
//! # How the context travels
//! Headers go into the broker's own metadata (AMQP headers table, Redis
//! Streams entry fields); brokers without metadata get a versioned payload
//! [`envelope`]. A [`Carriage`] can also put them into the payload: the
//! envelope, or a `traceContext` field of a JSON body as Node.js services
//! write it. Consumers read native metadata first, then the envelope, then
//! the JSON field; a message from a producer that does not use this crate is
//! consumed in a new trace.
//!
//! # Choosing a broker at run time
//! `AnyTransport::from_env` reads `QUEUE_TRANSPORT` (`memory`, `redis`, `redis-list`,
//! `amqp`, `sqs`) and `QUEUE_URL`; a bad value is an error naming the variable.
//!
//! # Spans
//! - `send {destination}` (PRODUCER), child of the caller's context:
//!   `messaging.system`, `messaging.operation.name`/`type` = `send`,
//!   `messaging.destination.name`, `messaging.message.id` (when the broker
//!   returns one), `messaging.message.body.size`,
//!   `messaging.message.conversation_id` (the correlation id),
//!   `server.address`/`server.port`, `error.type` on failure.
//! - `process {destination}` (CONSUMER), one per delivery attempt: the same
//!   attributes with `process`, plus [`semconv::DELIVERY_ATTEMPT`],
//!   [`semconv::QUEUE_TIME`], [`semconv::CONTEXT_SOURCE`], [`semconv::OUTCOME`]
//!   and broker-specific ones (RabbitMQ routing key and delivery tag). Its
//!   parent is the PRODUCER span by default and it always links to it; see
//!   [`Relation`] for the linked-trace mode.
//! - With [`Consumer::run_batches`], one `process {destination}` span per
//!   batch: `messaging.batch.message_count`, a link to every message's
//!   PRODUCER span (with its `messaging.message.id`), and one
//!   [`Transport::ack_batch`] for the whole batch (one `XACK` on Redis,
//!   `DeleteMessageBatch` on SQS).
//! - On SQS both spans carry `aws.sqs.queue.url`.
//!
//! Spans come from the global tracer provider unless
//! `with_tracer_provider` says otherwise; [`metrics`] lists the instruments.
//!
//! # Features
//! - `memory` (default): `MemoryTransport`, in-process queues on tokio.
//! - `redis`: `RedisTransport`, Redis Streams with consumer groups; and
//!   `RedisListTransport`, Redis lists with the reliable-queue pattern
//!   (`BLMOVE` to a processing list, the context in the payload envelope).
//! - `amqp`: `AmqpTransport`, RabbitMQ through lapin.
//! - `sqs`: `SqsTransport`, Amazon SQS through aws-sdk-sqs (rustls with ring).
//! - `full`: all of them.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod carriage;
mod consumer;
pub mod context;
pub mod envelope;
mod instrument;
mod message;
pub mod metrics;
mod producer;
#[cfg(any(
    feature = "memory",
    feature = "redis",
    feature = "amqp",
    feature = "sqs"
))]
mod select;
pub mod semconv;
mod transport;

#[cfg(feature = "amqp")]
#[cfg_attr(docsrs, doc(cfg(feature = "amqp")))]
mod amqp;
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
mod memory;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
mod redis;
#[cfg(feature = "sqs")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqs")))]
mod sqs;
#[cfg(any(feature = "sqs", fuzzing))]
mod sqs_attributes;

/// What the fuzz targets in `fuzz/` reach that is not public API: built only
/// under `cargo fuzz` (`--cfg fuzzing`).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::sqs_attributes::{
        LOOSE_ATTRIBUTES, PACKED_ATTRIBUTE, pack, sqs_accepts, traceparent_from_xray, unpack,
    };
}

pub use carriage::{Carriage, TRACE_CONTEXT_FIELD};
pub use consumer::{
    BatchFailed, BatchHandler, Consumer, Handler, Permanent, Relation, RetryPolicy,
};
pub use instrument::SCOPE;
pub use message::{Delivery, Headers, Incoming, Message, Published};
pub use producer::Producer;
#[cfg(any(
    feature = "memory",
    feature = "redis",
    feature = "amqp",
    feature = "sqs"
))]
pub use select::{AnyReceipt, AnyTransport, QUEUE_TRANSPORT, QUEUE_URL, SelectError};
pub use transport::{
    BoxError, DEAD_LETTER_ATTEMPTS, DEAD_LETTER_REASON, Transport, TransportError,
    dead_letter_message,
};

#[cfg(feature = "amqp")]
pub use amqp::{
    ATTEMPT_HEADER as AMQP_ATTEMPT_HEADER, AmqpOptions, AmqpReceipt, AmqpTransport,
    DELIVERY_COUNT_HEADER as AMQP_DELIVERY_COUNT_HEADER,
};
#[cfg(feature = "memory")]
pub use memory::{MemoryReceipt, MemoryTransport};
#[cfg(feature = "redis")]
pub use redis::{
    LIST_ATTEMPT_HEADER as REDIS_LIST_ATTEMPT_HEADER,
    LIST_MESSAGE_ID_HEADER as REDIS_LIST_MESSAGE_ID_HEADER, PAYLOAD_FIELD as REDIS_PAYLOAD_FIELD,
    RedisListReceipt, RedisListTransport, RedisOptions, RedisReceipt, RedisTransport,
};
#[cfg(feature = "sqs")]
pub use sqs::{
    PACKED_ATTRIBUTE as SQS_PACKED_ATTRIBUTE, SqsOptions, SqsReceipt, SqsTransport, sqs_http_client,
};
