//! [`AmqpTransport`]: RabbitMQ (AMQP 0-9-1) through lapin.
//!
//! Each destination is a durable queue on the default exchange. Headers go
//! into the AMQP headers table, so the context rides in native metadata.
//! Publishes wait for the broker's confirm. Consumers prefetch
//! ([`AmqpOptions::prefetch`]); whatever is unacked when a consumer stops or
//! its connection drops is requeued by the broker. A retry republishes the
//! message, with its attempt raised in `x-o11y-attempt`, to
//! `{destination}.retry`, a queue whose per-message TTL dead-letters it back
//! to the destination after the backoff; then the original is acked. Dead
//! letters go to `{destination}.dlq`.
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
mod options;
mod receiver;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use lapin::{
    Channel, Connection, ConnectionProperties,
    options::{BasicAckOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, LongString, ShortString},
};

pub use convert::ATTEMPT_HEADER;
pub use options::AmqpOptions;
use receiver::Receivers;

use opentelemetry::KeyValue;

use crate::{
    message::{Delivery, Message, Published},
    semconv,
    transport::{Transport, TransportError, dead_letter_message},
};

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
    connection: Connection,
    publisher: Channel,
    receivers: Receivers,
    declared: Mutex<HashSet<String>>,
    server: Option<(String, u16)>,
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
        let connection = Connection::connect(uri, ConnectionProperties::default())
            .await
            .map_err(|e| err("connect", "", e))?;
        let publisher = connection
            .create_channel()
            .await
            .map_err(|e| err("connect", "", e))?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| err("connect", "", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                receivers: Receivers::new(options),
                connection,
                publisher,
                declared: Mutex::new(HashSet::new()),
                server: server_of(uri),
            }),
        })
    }

    /// Closes the connection; unacked deliveries go back to their queues.
    pub async fn close(&self) {
        let _ = self.inner.connection.close(200, "closing").await;
    }

    /// Declares `queue` (durable) once per transport.
    async fn declare(&self, queue: &str, arguments: FieldTable) -> Result<(), TransportError> {
        if self
            .inner
            .declared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(queue)
        {
            return Ok(());
        }
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        self.inner
            .publisher
            .queue_declare(queue, options, arguments)
            .await
            .map_err(|e| err("declare", queue, e))?;
        self.inner
            .declared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(queue.to_owned());
        Ok(())
    }

    /// Publishes to `queue` on the default exchange and waits for the confirm.
    async fn send(
        &self,
        operation: &'static str,
        queue: &str,
        message: &Message,
    ) -> Result<String, TransportError> {
        let id = o11y_core::CorrelationId::generate().as_str().to_owned();
        let confirm = self
            .inner
            .publisher
            .basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                &message.payload,
                convert::properties(message, &id),
            )
            .await
            .map_err(|e| err(operation, queue, e))?
            .await
            .map_err(|e| err(operation, queue, e))?;
        if confirm.is_nack() {
            return Err(TransportError::new(
                operation,
                queue,
                "the broker refused the message (nack)",
            ));
        }
        Ok(id)
    }

    /// The queue holding retries of `destination` until their TTL sends them back.
    async fn retry_queue(&self, destination: &str) -> Result<String, TransportError> {
        let name = format!("{destination}.retry");
        let mut args = FieldTable::default();
        args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(LongString::from("")),
        );
        args.insert(
            ShortString::from("x-dead-letter-routing-key"),
            AMQPValue::LongString(LongString::from(destination)),
        );
        self.declare(&name, args).await?;
        Ok(name)
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
        self.declare(destination, FieldTable::default()).await?;
        self.send("publish", destination, &message)
            .await
            .map(Published::with_id)
    }

    async fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<AmqpReceipt>>, TransportError> {
        self.declare(destination, FieldTable::default()).await?;
        self.inner
            .receivers
            .receive(&self.inner.connection, destination, max.max(1))
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
        if delay.is_zero() {
            self.send("retry", destination, &message).await?;
        } else {
            let queue = self.retry_queue(destination).await?;
            self.send_expiring(&queue, &message, delay).await?;
        }
        self.ack(destination, delivery).await
    }

    async fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<AmqpReceipt>,
        reason: &str,
    ) -> Result<(), TransportError> {
        let target = self.dead_letter_destination(destination);
        self.declare(&target, FieldTable::default()).await?;
        self.send(
            "dead_letter",
            &target,
            &dead_letter_message(delivery, reason),
        )
        .await?;
        self.ack(destination, delivery).await
    }

    async fn stop(&self, destination: &str) {
        self.inner.receivers.stop(destination).await;
    }
}

impl AmqpTransport {
    async fn send_expiring(
        &self,
        queue: &str,
        message: &Message,
        ttl: Duration,
    ) -> Result<(), TransportError> {
        let id = o11y_core::CorrelationId::generate().as_str().to_owned();
        let ms = ttl.as_millis().max(1).to_string();
        let props = convert::properties(message, &id).with_expiration(ShortString::from(ms));
        let confirm = self
            .inner
            .publisher
            .basic_publish(
                "",
                queue,
                BasicPublishOptions::default(),
                &message.payload,
                props,
            )
            .await
            .map_err(|e| err("retry", queue, e))?
            .await
            .map_err(|e| err("retry", queue, e))?;
        if confirm.is_nack() {
            return Err(TransportError::new(
                "retry",
                queue,
                "the broker refused the message (nack)",
            ));
        }
        Ok(())
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
