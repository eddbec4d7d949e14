//! The [`Transport`] contract every broker implements.

use std::{error::Error as StdError, future::Future, time::Duration};

use opentelemetry::KeyValue;

use crate::message::{Delivery, Message, Published};

/// A boxed error from a broker client.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A broker operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on {destination:?} failed: {source}")]
#[non_exhaustive]
pub struct TransportError {
    /// What was attempted: `publish`, `receive`, `ack`, `retry`, `dead_letter`,
    /// `release`, `declare`, `connect`.
    pub operation: &'static str,
    /// The queue involved (empty for `connect`).
    pub destination: String,
    /// The broker client's error.
    #[source]
    pub source: BoxError,
}

impl TransportError {
    /// Wraps a client error.
    pub fn new(operation: &'static str, destination: &str, source: impl Into<BoxError>) -> Self {
        Self {
            operation,
            destination: destination.to_owned(),
            source: source.into(),
        }
    }
}

/// A message broker: publish, receive, and settle deliveries.
///
/// Implementations keep at-least-once semantics: a delivery that is neither
/// acked, retried nor dead-lettered (the consumer crashed) comes back.
/// [`Producer`](crate::Producer) and [`Consumer`](crate::Consumer) add the
/// tracing; a transport only moves bytes and headers.
pub trait Transport: Send + Sync + 'static {
    /// The handle that settles one delivery.
    type Receipt: Send + Sync + 'static;

    /// The `messaging.system` value (`redis`, `rabbitmq`, ...).
    fn system(&self) -> &'static str;

    /// `server.address` and `server.port`, when there is a server.
    fn server(&self) -> Option<(&str, u16)> {
        None
    }

    /// Whether headers travel in native metadata. When `false`, the producer
    /// wraps them into the payload envelope.
    fn native_headers(&self) -> bool {
        true
    }

    /// Broker-specific span attributes of a delivery (RabbitMQ routing key
    /// and delivery tag, ...). None by default.
    fn delivery_attributes(&self, delivery: &Delivery<Self::Receipt>) -> Vec<KeyValue> {
        let _ = delivery;
        Vec::new()
    }

    /// Broker-specific attributes of the PRODUCER span of a publish to
    /// `destination` (the SQS queue URL, ...), asked for once the publish
    /// returned. None by default.
    fn publish_attributes(&self, destination: &str) -> Vec<KeyValue> {
        let _ = destination;
        Vec::new()
    }

    /// Where dead letters of `destination` go.
    fn dead_letter_destination(&self, destination: &str) -> String {
        format!("{destination}.dlq")
    }

    /// Publishes `message` to `destination`.
    fn publish(
        &self,
        destination: &str,
        message: Message,
    ) -> impl Future<Output = Result<Published, TransportError>> + Send;

    /// Waits a short, transport-defined time for up to `max` deliveries
    /// (returns an empty batch when none came). Dropping the future loses
    /// nothing, though what the broker handed out meanwhile only comes back
    /// after its redelivery timeout.
    fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Delivery<Self::Receipt>>, TransportError>> + Send;

    /// Settles a delivery as done.
    fn ack(
        &self,
        destination: &str,
        delivery: &Delivery<Self::Receipt>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Settles several deliveries of `destination` as done, in as few broker
    /// calls as the broker allows (one `XACK` on Redis, `DeleteMessageBatch`
    /// on SQS). The default acks each, all at once. Every delivery is
    /// attempted; the first error is returned, and a delivery whose ack
    /// failed comes back after the broker's redelivery timeout.
    fn ack_batch(
        &self,
        destination: &str,
        deliveries: &[&Delivery<Self::Receipt>],
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        async move {
            let acks = deliveries.iter().map(|d| self.ack(destination, d));
            let results = futures_util::future::join_all(acks).await;
            results
                .into_iter()
                .find_map(Result::err)
                .map_or(Ok(()), Err)
        }
    }

    /// Makes the delivery come back after about `delay`, with its attempt
    /// count raised.
    fn retry(
        &self,
        destination: &str,
        delivery: &Delivery<Self::Receipt>,
        delay: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Moves the delivery to [`dead_letter_destination`](Self::dead_letter_destination),
    /// adding the `x-dead-letter-reason` and `x-dead-letter-attempts` headers,
    /// then settles the original.
    fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<Self::Receipt>,
        reason: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// How long a received delivery stays reserved for its consumer before
    /// the broker hands it out again (the SQS visibility timeout, the Redis
    /// claim idle time), when there is such a limit. A consumer whose
    /// handler runs longer than half of it [`extend`](Self::extend)s the
    /// reservation every half lease, so a slow handler is not processed
    /// twice at once. `None` (the default): no limit to extend.
    fn lease(&self) -> Option<Duration> {
        None
    }

    /// Reserves `delivery` for another [`lease`](Self::lease) from now
    /// (`ChangeMessageVisibility` on SQS, an `XCLAIM` by the same consumer
    /// on Redis Streams, the consumer's heartbeat on Redis lists).
    fn extend(
        &self,
        destination: &str,
        delivery: &Delivery<Self::Receipt>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        let _ = (destination, delivery);
        async { Ok(()) }
    }

    /// Hands an unsettled delivery back to the broker for redelivery now,
    /// without waiting for its redelivery timeout: what a consumer does with
    /// the deliveries whose handler was still running at its shutdown
    /// deadline. The default retries with no delay.
    fn release(
        &self,
        destination: &str,
        delivery: &Delivery<Self::Receipt>,
    ) -> impl Future<Output = Result<(), TransportError>> + Send {
        self.retry(destination, delivery, Duration::ZERO)
    }

    /// Stops receiving from `destination`: deliveries prefetched but not yet
    /// handed out go back to the queue. Called when a consumer stops.
    fn stop(&self, destination: &str) -> impl Future<Output = ()> + Send {
        let _ = destination;
        async {}
    }
}

/// Header naming why a message was dead-lettered.
pub const DEAD_LETTER_REASON: &str = "x-dead-letter-reason";
/// Header holding how many deliveries were attempted before dead-lettering.
pub const DEAD_LETTER_ATTEMPTS: &str = "x-dead-letter-attempts";

/// The message a dead letter carries: the original headers plus the reason
/// and attempt count.
pub fn dead_letter_message<R>(delivery: &Delivery<R>, reason: &str) -> Message {
    let mut message = delivery.message.clone();
    message
        .headers
        .insert(DEAD_LETTER_REASON.to_owned(), sanitize_reason(reason));
    message.headers.insert(
        DEAD_LETTER_ATTEMPTS.to_owned(),
        delivery.attempt.to_string(),
    );
    message
}

/// Keeps a reason short and printable, whatever the handler's error said.
fn sanitize_reason(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(256)
        .collect()
}
