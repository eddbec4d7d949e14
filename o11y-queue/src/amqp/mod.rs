//! [`AmqpTransport`]: RabbitMQ (AMQP 0-9-1) through lapin.
//!
//! Each destination is a durable queue on the default exchange. Headers go
//! into the AMQP headers table, so the context rides in native metadata.
//! Publishes are `mandatory` and wait for the broker's confirm, at most
//! [`AmqpOptions::confirm_timeout`]: a queue that does not exist, a refusal
//! (nack) or a broker that does not answer (a memory alarm) is an error,
//! never a hang nor a silent drop. When the connection or the publishing
//! channel dies, the next operation opens them again (backoff 100 ms
//! doubling to 5 s between tries) and declares the queues again; a consumer
//! whose channel died opens a new one. Consumers prefetch
//! ([`AmqpOptions::prefetch`]); whatever is unacked when a consumer stops or
//! its connection drops is requeued by the broker. A retry republishes the
//! message, with its attempt raised in `x-o11y-attempt`, to
//! `{destination}.retry.{n}ms`, one queue per backoff delay whose TTL
//! dead-letters it back to the destination after `n` ms (so a short backoff
//! never waits behind a longer one); then the original is acked. Dead
//! letters go to `{destination}.dlq`. When the retry or dead-letter publish
//! fails, the original is nacked with requeue: it comes back (counted), it
//! is never left unacked holding a prefetch slot.
//!
//! # Delivery guarantees
//! At least once. Destinations (and their `.dlq`) are quorum queues by
//! default ([`AmqpOptions::quorum`]). The attempt is the `x-o11y-attempt`
//! header (raised by each retry's republish) plus the queue's
//! `x-delivery-count`, which RabbitMQ raises every time a delivery comes back
//! unsettled: nack with requeue, or a channel or connection that closed with
//! it unacked (a crashed consumer). So the attempt is counted before the
//! handler runs, and a message that kills its consumer again and again is
//! dead-lettered once it exceeds `max_attempts`. Delivered twice: what a
//! consumer handled but did not ack before it died or lost its connection,
//! and a retry whose republish was confirmed but whose ack was lost. A
//! delivery prefetched when its consumer died counts as an attempt too: keep
//! [`AmqpOptions::prefetch`] near the consumer's concurrency. On a classic
//! queue (`quorum: false`) the broker only says `redelivered`, so a crash
//! counts one attempt more at most.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), o11y_queue::TransportError> {
//! use o11y_queue::{AmqpOptions, AmqpTransport, Producer};
//!
//! let amqp = AmqpTransport::connect("amqp://guest:guest@127.0.0.1:5672/%2f", AmqpOptions::default()).await?;
//! Producer::new(amqp).publish("orders", r#"{"id":42}"#).await?;
//! # Ok(()) }
//! ```

mod convert;
mod link;
mod options;
mod receiver;

use std::{sync::Arc, time::Duration};

use lapin::{
    options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions, QueueDeclareOptions},
    publisher_confirm::Confirmation,
    types::{AMQPValue, FieldTable, LongString, ShortString},
};

pub use convert::{ATTEMPT_HEADER, DELIVERY_COUNT_HEADER};
pub use options::AmqpOptions;
use receiver::Receivers;

use opentelemetry::KeyValue;

use crate::{
    message::{Delivery, Message, Published},
    semconv,
    transport::{Transport, TransportError, dead_letter_message},
};
use link::{Link, Links};

/// Settles one [`AmqpTransport`] delivery.
#[derive(Clone, Debug)]
pub struct AmqpReceipt {
    acker: lapin::acker::Acker,
    /// The AMQP delivery tag (`messaging.rabbitmq.message.delivery_tag`).
    pub delivery_tag: u64,
    /// The routing key it was published with.
    pub routing_key: String,
}

/// RabbitMQ transport; clones share the connection.
#[derive(Clone)]
pub struct AmqpTransport {
    inner: Arc<Inner>,
}

struct Inner {
    links: Links,
    receivers: Receivers,
    server: Option<(String, u16)>,
    /// Destinations are quorum queues ([`AmqpOptions::quorum`]).
    quorum: bool,
    confirm_timeout: Duration,
}

impl std::fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("server", &self.inner.server)
            .finish_non_exhaustive()
    }
}

fn err(operation: &'static str, destination: &str, e: lapin::Error) -> TransportError {
    TransportError::new(operation, destination, e)
}

impl AmqpTransport {
    /// Connects to `uri` (`amqp://user:pass@host:port/vhost`).
    pub async fn connect(uri: &str, options: AmqpOptions) -> Result<Self, TransportError> {
        let links = Links::connect(uri, options.confirm_timeout).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                links,
                quorum: options.quorum,
                confirm_timeout: options.confirm_timeout,
                receivers: Receivers::new(options),
                server: server_of(uri),
            }),
        })
    }

    /// Closes the connection; unacked deliveries go back to their queues.
    pub async fn close(&self) {
        self.inner.links.close().await;
    }

    /// Declares `queue` (durable) once per connection.
    async fn declare(
        &self,
        link: &Link,
        queue: &str,
        arguments: FieldTable,
    ) -> Result<(), TransportError> {
        if link.declared(queue) {
            return Ok(());
        }
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        link.publisher
            .queue_declare(queue, options, arguments)
            .await
            .map_err(|e| err("declare", queue, e))?;
        link.mark_declared(queue, true);
        Ok(())
    }

    /// The arguments a destination queue is declared with.
    fn destination_arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.inner.quorum {
            args.insert(
                ShortString::from("x-queue-type"),
                AMQPValue::LongString(LongString::from("quorum")),
            );
        }
        args
    }

    /// Declares `queue` as a destination, then publishes `message` to it.
    async fn send_to(
        &self,
        operation: &'static str,
        queue: &str,
        message: &Message,
    ) -> Result<String, TransportError> {
        let link = self.inner.links.get().await?;
        self.declare(&link, queue, self.destination_arguments())
            .await?;
        self.send(&link, operation, queue, message).await
    }

    /// Publishes to `queue` on the default exchange (`mandatory`) and waits
    /// for the confirm, bounded.
    async fn send(
        &self,
        link: &Link,
        operation: &'static str,
        queue: &str,
        message: &Message,
    ) -> Result<String, TransportError> {
        let id = o11y_core::CorrelationId::generate().as_str().to_owned();
        let props = convert::properties(message, &id);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let confirm = async {
            link.publisher
                .basic_publish("", queue, options, &message.payload, props)
                .await?
                .await
        };
        let timeout = self.inner.confirm_timeout;
        let confirmation = tokio::time::timeout(timeout, confirm)
            .await
            .map_err(|_| {
                let e = format!("no publisher confirm within {timeout:?} (is a broker alarm on?)");
                TransportError::new(operation, queue, e)
            })?
            .map_err(|e| err(operation, queue, e))?;
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(id),
            Confirmation::Ack(Some(_)) => {
                // Declared again on the next try.
                link.mark_declared(queue, false);
                Err(TransportError::new(
                    operation,
                    queue,
                    "unroutable: the queue does not exist (the broker returned the message)",
                ))
            }
            Confirmation::Nack(_) => Err(TransportError::new(
                operation,
                queue,
                "the broker refused the message (nack)",
            )),
        }
    }

    /// The queue holding retries of `destination` for `delay`, then
    /// dead-lettering them back to it: one queue per delay, its TTL the
    /// queue's own, so a short backoff never waits behind a longer one (a
    /// per-message TTL only expires at the head of its queue).
    async fn retry_queue(
        &self,
        link: &Link,
        destination: &str,
        delay: Duration,
    ) -> Result<String, TransportError> {
        let ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX).max(1);
        let name = format!("{destination}.retry.{ms}ms");
        let mut args = FieldTable::default();
        args.insert(ShortString::from("x-message-ttl"), AMQPValue::LongUInt(ms));
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from("")),
        );
        args.insert(
            ShortString::from("x-dead-letter-routing-key"),
            AMQPValue::LongString(LongString::from(destination)),
        );
        self.declare(link, &name, args).await?;
        Ok(name)
    }

    /// Publishes a retry: back to `destination` at once, or through its
    /// retry queue after `delay`.
    async fn republish(
        &self,
        destination: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), TransportError> {
        if delay.is_zero() {
            return self.send_to("retry", destination, message).await.map(drop);
        }
        let link = self.inner.links.get().await?;
        let queue = self.retry_queue(&link, destination, delay).await?;
        self.send(&link, "retry", &queue, message).await.map(drop)
    }

    /// Puts the original back in its queue after a failed retry or dead
    /// letter, so that it is not left unacked; then returns `failure`.
    async fn requeue(
        &self,
        destination: &str,
        delivery: &Delivery<AmqpReceipt>,
        failure: TransportError,
    ) -> Result<(), TransportError> {
        let nack = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        if let Err(e) = delivery.receipt.acker.nack(nack).await {
            // A dead channel: the broker requeued it already.
            tracing::debug!(error = %e, destination, "nack after a failed settle");
        }
        Err(failure)
    }
}

/// `host` and `port` of an `amqp://` URI (5672 by default, 5671 for `amqps`).
fn server_of(uri: &str) -> Option<(String, u16)> {
    let (scheme, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let default = if scheme == "amqps" { 5671 } else { 5672 };
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None if !host_port.is_empty() => Some((host_port.to_owned(), default)),
        None => None,
    }
}

impl Transport for AmqpTransport {
    type Receipt = AmqpReceipt;

    fn system(&self) -> &'static str {
        "rabbitmq"
    }

    fn server(&self) -> Option<(&str, u16)> {
        self.inner.server.as_ref().map(|(h, p)| (h.as_str(), *p))
    }

    fn delivery_attributes(&self, delivery: &Delivery<AmqpReceipt>) -> Vec<KeyValue> {
        let tag = i64::try_from(delivery.receipt.delivery_tag).unwrap_or(i64::MAX);
        let key = delivery.receipt.routing_key.clone();
        vec![
            KeyValue::new(semconv::MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG, tag),
            KeyValue::new(semconv::MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY, key),
        ]
    }

    async fn publish(
        &self,
        destination: &str,
        message: Message,
    ) -> Result<Published, TransportError> {
        self.send_to("publish", destination, &message)
            .await
            .map(Published::with_id)
    }

    async fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<AmqpReceipt>>, TransportError> {
        let link = self.inner.links.get().await?;
        self.declare(&link, destination, self.destination_arguments())
            .await?;
        self.inner
            .receivers
            .receive(&link.connection, destination, max.max(1))
            .await
    }

    async fn ack(
        &self,
        destination: &str,
        delivery: &Delivery<AmqpReceipt>,
    ) -> Result<(), TransportError> {
        delivery
            .receipt
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(|e| err("ack", destination, e))
    }

    async fn retry(
        &self,
        destination: &str,
        delivery: &Delivery<AmqpReceipt>,
        delay: Duration,
    ) -> Result<(), TransportError> {
        let mut message = delivery.message.clone();
        let next = delivery.attempt.saturating_add(1).to_string();
        message.headers.insert(ATTEMPT_HEADER.to_owned(), next);
        match self.republish(destination, &message, delay).await {
            Ok(()) => self.ack(destination, delivery).await,
            Err(e) => self.requeue(destination, delivery, e).await,
        }
    }

    async fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<AmqpReceipt>,
        reason: &str,
    ) -> Result<(), TransportError> {
        let target = self.dead_letter_destination(destination);
        let message = dead_letter_message(delivery, reason);
        match self.send_to("dead_letter", &target, &message).await {
            Ok(_) => self.ack(destination, delivery).await,
            Err(e) => self.requeue(destination, delivery, e).await,
        }
    }

    /// Nack with requeue: back at once, counted by the queue.
    async fn release(
        &self,
        destination: &str,
        delivery: &Delivery<AmqpReceipt>,
    ) -> Result<(), TransportError> {
        let nack = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        delivery
            .receipt
            .acker
            .nack(nack)
            .await
            .map(drop)
            .map_err(|e| err("release", destination, e))
    }

    async fn stop(&self, destination: &str) {
        self.inner.receivers.stop(destination).await;
    }
}

#[cfg(test)]
mod tests {
    use super::server_of;

    #[test]
    fn server_comes_from_the_uri() {
        assert_eq!(
            server_of("amqp://guest:guest@127.0.0.1:5672/%2f"),
            Some(("127.0.0.1".into(), 5672))
        );
        assert_eq!(server_of("amqps://rabbit"), Some(("rabbit".into(), 5671)));
        assert_eq!(server_of("amqp://h:notaport"), None);
        assert_eq!(server_of("nonsense"), None);
    }
}
