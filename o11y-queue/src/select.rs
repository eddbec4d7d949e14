//! [`AnyTransport`]: the transport chosen at run time from
//! [`QUEUE_TRANSPORT`] and [`QUEUE_URL`].
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), o11y_queue::SelectError> {
//! use o11y_queue::{AnyTransport, Producer};
//!
//! // QUEUE_TRANSPORT=redis QUEUE_URL=redis://127.0.0.1:6379
//! let transport = AnyTransport::from_env().await?;
//! Producer::new(transport).publish("orders", "{}").await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use opentelemetry::KeyValue;

use crate::{
    message::{Delivery, Message, Published},
    transport::{Transport, TransportError},
};

/// Names the transport: `memory`, `redis` (Streams), `redis-list`, `amqp` or
/// `sqs` (default `memory`).
pub const QUEUE_TRANSPORT: &str = "QUEUE_TRANSPORT";
/// The broker URL for `redis` and `amqp`; for `sqs`, an endpoint override
/// (credentials and region come from the standard `AWS_*` variables).
pub const QUEUE_URL: &str = "QUEUE_URL";

/// The transport could not be chosen or reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// The name is not a transport compiled into this build.
    #[error("{QUEUE_TRANSPORT}={value:?} is not one of the enabled transports: {enabled}")]
    Unknown {
        /// The value given.
        value: String,
        /// The transports this build has.
        enabled: String,
    },
    /// A broker transport was chosen without its URL.
    #[error("{QUEUE_TRANSPORT}={0} needs {QUEUE_URL}")]
    MissingUrl(&'static str),
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] TransportError),
}

/// One of the enabled transports.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyTransport {
    /// In-process queues.
    #[cfg(feature = "memory")]
    Memory(crate::MemoryTransport),
    /// Redis Streams.
    #[cfg(feature = "redis")]
    Redis(crate::RedisTransport),
    /// Redis lists.
    #[cfg(feature = "redis")]
    RedisList(crate::RedisListTransport),
    /// RabbitMQ.
    #[cfg(feature = "amqp")]
    Amqp(crate::AmqpTransport),
    /// Amazon SQS.
    #[cfg(feature = "sqs")]
    Sqs(crate::SqsTransport),
}

/// The receipt of an [`AnyTransport`] delivery.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AnyReceipt {
    /// From [`AnyTransport::Memory`].
    #[cfg(feature = "memory")]
    Memory(crate::MemoryReceipt),
    /// From [`AnyTransport::Redis`].
    #[cfg(feature = "redis")]
    Redis(crate::RedisReceipt),
    /// From [`AnyTransport::RedisList`].
    #[cfg(feature = "redis")]
    RedisList(crate::RedisListReceipt),
    /// From [`AnyTransport::Amqp`].
    #[cfg(feature = "amqp")]
    Amqp(crate::AmqpReceipt),
    /// From [`AnyTransport::Sqs`].
    #[cfg(feature = "sqs")]
    Sqs(crate::SqsReceipt),
}

/// The transports compiled in.
fn enabled() -> String {
    let all = [
        (cfg!(feature = "memory"), "memory"),
        (cfg!(feature = "redis"), "redis"),
        (cfg!(feature = "redis"), "redis-list"),
        (cfg!(feature = "amqp"), "amqp"),
        (cfg!(feature = "sqs"), "sqs"),
    ];
    let names: Vec<&str> = all.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect();
    names.join(", ")
}

impl AnyTransport {
    /// Reads [`QUEUE_TRANSPORT`] and [`QUEUE_URL`] and connects.
    pub async fn from_env() -> Result<Self, SelectError> {
        let name = std::env::var(QUEUE_TRANSPORT).unwrap_or_else(|_| "memory".to_owned());
        let url = std::env::var(QUEUE_URL).ok();
        Self::connect(&name, url.as_deref()).await
    }

    /// Connects the transport named `name` (see [`QUEUE_TRANSPORT`]) to `url`
    /// with default options.
    pub async fn connect(name: &str, url: Option<&str>) -> Result<Self, SelectError> {
        let _ = url;
        match name.trim().to_ascii_lowercase().as_str() {
            #[cfg(feature = "memory")]
            "memory" => Ok(Self::Memory(crate::MemoryTransport::new())),
            #[cfg(feature = "redis")]
            "redis" => {
                let url = url.ok_or(SelectError::MissingUrl("redis"))?;
                let t = crate::RedisTransport::connect(url, crate::RedisOptions::default()).await?;
                Ok(Self::Redis(t))
            }
            #[cfg(feature = "redis")]
            "redis-list" => {
                let url = url.ok_or(SelectError::MissingUrl("redis-list"))?;
                let options = crate::RedisOptions::default();
                Ok(Self::RedisList(
                    crate::RedisListTransport::connect(url, options).await?,
                ))
            }
            #[cfg(feature = "amqp")]
            "amqp" => {
                let url = url.ok_or(SelectError::MissingUrl("amqp"))?;
                let t = crate::AmqpTransport::connect(url, crate::AmqpOptions::default()).await?;
                Ok(Self::Amqp(t))
            }
            #[cfg(feature = "sqs")]
            "sqs" => Ok(Self::Sqs(sqs_from_env(url))),
            _ => Err(SelectError::Unknown {
                value: name.to_owned(),
                enabled: enabled(),
            }),
        }
    }
}

/// An SQS client from the standard variables: `AWS_REGION` (default
/// `us-east-1`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`; `url` overrides the endpoint (a local server).
#[cfg(feature = "sqs")]
fn sqs_from_env(url: Option<&str>) -> crate::SqsTransport {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    let var = |name: &str| std::env::var(name).ok();
    let region = var("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned());
    let mut config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .http_client(crate::sqs_http_client());
    if let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let creds = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "environment");
        config = config.credentials_provider(creds);
    }
    if let Some(url) = url {
        config = config.endpoint_url(url);
    }
    let client = aws_sdk_sqs::Client::from_conf(config.build());
    crate::SqsTransport::new(client, crate::SqsOptions::default())
}

/// `delivery` with the inner receipt, for the inner transport.
fn inner<R: Clone>(delivery: &Delivery<AnyReceipt>, receipt: &R) -> Delivery<R> {
    Delivery {
        message: delivery.message.clone(),
        id: delivery.id.clone(),
        attempt: delivery.attempt,
        enqueued_at: delivery.enqueued_at,
        receipt: receipt.clone(),
    }
}

fn wrap<R>(batch: Vec<Delivery<R>>, f: fn(R) -> AnyReceipt) -> Vec<Delivery<AnyReceipt>> {
    batch
        .into_iter()
        .map(|d| Delivery {
            message: d.message,
            id: d.id,
            attempt: d.attempt,
            enqueued_at: d.enqueued_at,
            receipt: f(d.receipt),
        })
        .collect()
}

fn foreign(operation: &'static str, destination: &str) -> TransportError {
    TransportError::new(operation, destination, "receipt from another transport")
}

/// Runs `$body` with `$t` bound to the inner transport.
macro_rules! each {
    ($self:expr, $t:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "memory")]
            AnyTransport::Memory($t) => $body,
            #[cfg(feature = "redis")]
            AnyTransport::Redis($t) => $body,
            #[cfg(feature = "redis")]
            AnyTransport::RedisList($t) => $body,
            #[cfg(feature = "amqp")]
            AnyTransport::Amqp($t) => $body,
            #[cfg(feature = "sqs")]
            AnyTransport::Sqs($t) => $body,
        }
    };
}

/// Runs `$body` with `$t` the inner transport and `$d` the inner delivery.
macro_rules! settle {
    ($self:expr, $delivery:expr, $op:literal, $dest:expr, $t:ident, $d:ident => $body:expr) => {
        match ($self, &$delivery.receipt) {
            #[cfg(feature = "memory")]
            (AnyTransport::Memory($t), AnyReceipt::Memory(r)) => {
                let $d = inner($delivery, r);
                $body
            }
            #[cfg(feature = "redis")]
            (AnyTransport::Redis($t), AnyReceipt::Redis(r)) => {
                let $d = inner($delivery, r);
                $body
            }
            #[cfg(feature = "redis")]
            (AnyTransport::RedisList($t), AnyReceipt::RedisList(r)) => {
                let $d = inner($delivery, r);
                $body
            }
            #[cfg(feature = "amqp")]
            (AnyTransport::Amqp($t), AnyReceipt::Amqp(r)) => {
                let $d = inner($delivery, r);
                $body
            }
            #[cfg(feature = "sqs")]
            (AnyTransport::Sqs($t), AnyReceipt::Sqs(r)) => {
                let $d = inner($delivery, r);
                $body
            }
            #[allow(unreachable_patterns)]
            _ => Err(foreign($op, $dest)),
        }
    };
}

impl Transport for AnyTransport {
    type Receipt = AnyReceipt;

    fn system(&self) -> &'static str {
        each!(self, t => t.system())
    }

    fn server(&self) -> Option<(&str, u16)> {
        each!(self, t => t.server())
    }

    fn native_headers(&self) -> bool {
        each!(self, t => t.native_headers())
    }

    fn dead_letter_destination(&self, destination: &str) -> String {
        each!(self, t => t.dead_letter_destination(destination))
    }

    fn publish_attributes(&self, destination: &str) -> Vec<KeyValue> {
        each!(self, t => t.publish_attributes(destination))
    }

    fn delivery_attributes(&self, delivery: &Delivery<AnyReceipt>) -> Vec<KeyValue> {
        match (self, &delivery.receipt) {
            #[cfg(feature = "amqp")]
            (AnyTransport::Amqp(t), AnyReceipt::Amqp(r)) => {
                t.delivery_attributes(&inner(delivery, r))
            }
            #[cfg(feature = "sqs")]
            (AnyTransport::Sqs(t), AnyReceipt::Sqs(r)) => {
                t.delivery_attributes(&inner(delivery, r))
            }
            #[allow(unreachable_patterns)]
            _ => Vec::new(),
        }
    }

    async fn publish(
        &self,
        destination: &str,
        message: Message,
    ) -> Result<Published, TransportError> {
        each!(self, t => t.publish(destination, message).await)
    }

    async fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<AnyReceipt>>, TransportError> {
        match self {
            #[cfg(feature = "memory")]
            Self::Memory(t) => Ok(wrap(t.receive(destination, max).await?, AnyReceipt::Memory)),
            #[cfg(feature = "redis")]
            Self::Redis(t) => Ok(wrap(t.receive(destination, max).await?, AnyReceipt::Redis)),
            #[cfg(feature = "redis")]
            Self::RedisList(t) => Ok(wrap(
                t.receive(destination, max).await?,
                AnyReceipt::RedisList,
            )),
            #[cfg(feature = "amqp")]
            Self::Amqp(t) => Ok(wrap(t.receive(destination, max).await?, AnyReceipt::Amqp)),
            #[cfg(feature = "sqs")]
            Self::Sqs(t) => Ok(wrap(t.receive(destination, max).await?, AnyReceipt::Sqs)),
        }
    }

    async fn ack(
        &self,
        destination: &str,
        delivery: &Delivery<AnyReceipt>,
    ) -> Result<(), TransportError> {
        settle!(self, delivery, "ack", destination, t, d => t.ack(destination, &d).await)
    }

    async fn ack_batch(
        &self,
        destination: &str,
        deliveries: &[&Delivery<AnyReceipt>],
    ) -> Result<(), TransportError> {
        /// The inner deliveries, acked in one batch by the inner transport.
        macro_rules! batch {
            ($t:expr, $variant:ident) => {{
                let inner: Option<Vec<_>> = deliveries
                    .iter()
                    .map(|d| match &d.receipt {
                        AnyReceipt::$variant(r) => Some(inner(d, r)),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    })
                    .collect();
                let inner = inner.ok_or_else(|| foreign("ack", destination))?;
                let refs: Vec<_> = inner.iter().collect();
                $t.ack_batch(destination, &refs).await
            }};
        }
        match self {
            #[cfg(feature = "memory")]
            Self::Memory(t) => batch!(t, Memory),
            #[cfg(feature = "redis")]
            Self::Redis(t) => batch!(t, Redis),
            #[cfg(feature = "redis")]
            Self::RedisList(t) => batch!(t, RedisList),
            #[cfg(feature = "amqp")]
            Self::Amqp(t) => batch!(t, Amqp),
            #[cfg(feature = "sqs")]
            Self::Sqs(t) => batch!(t, Sqs),
        }
    }

    async fn retry(
        &self,
        destination: &str,
        delivery: &Delivery<AnyReceipt>,
        delay: Duration,
    ) -> Result<(), TransportError> {
        settle!(self, delivery, "retry", destination, t, d => t.retry(destination, &d, delay).await)
    }

    async fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<AnyReceipt>,
        reason: &str,
    ) -> Result<(), TransportError> {
        settle!(self, delivery, "dead_letter", destination, t, d => t.dead_letter(destination, &d, reason).await)
    }

    fn lease(&self) -> Option<Duration> {
        each!(self, t => t.lease())
    }

    async fn extend(
        &self,
        destination: &str,
        delivery: &Delivery<AnyReceipt>,
    ) -> Result<(), TransportError> {
        settle!(self, delivery, "extend", destination, t, d => t.extend(destination, &d).await)
    }

    async fn release(
        &self,
        destination: &str,
        delivery: &Delivery<AnyReceipt>,
    ) -> Result<(), TransportError> {
        settle!(self, delivery, "release", destination, t, d => t.release(destination, &d).await)
    }

    async fn stop(&self, destination: &str) {
        each!(self, t => t.stop(destination).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_names_name_the_variable() {
        let e = AnyTransport::connect("kafka", None).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("QUEUE_TRANSPORT=\"kafka\" is not one of"),
            "{text}"
        );
        assert!(text.contains("memory"), "{text}");
        #[cfg(feature = "redis")]
        assert!(matches!(
            AnyTransport::connect("redis", None).await,
            Err(SelectError::MissingUrl("redis"))
        ));
        #[cfg(feature = "redis")]
        assert!(matches!(
            AnyTransport::connect("redis-list", None).await,
            Err(SelectError::MissingUrl("redis-list"))
        ));
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn memory_round_trip_through_any() {
        let t = AnyTransport::connect(" Memory ", None).await.unwrap();
        t.publish("q", Message::new("x")).await.unwrap();
        let batch = t.receive("q", 1).await.unwrap();
        t.ack("q", &batch[0]).await.unwrap();
        assert_eq!(t.system(), "memory");
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn lease_and_release_reach_the_inner_transport() {
        let t = AnyTransport::connect("memory", None).await.unwrap();
        assert_eq!(t.lease(), Some(Duration::from_secs(30)));
        t.publish("q", Message::new("x")).await.unwrap();
        let first = t.receive("q", 1).await.unwrap().pop().unwrap();
        t.extend("q", &first).await.unwrap();
        t.release("q", &first).await.unwrap();
        // Released: handed out again at once, not after the 30 s visibility.
        let again = t.receive("q", 1).await.unwrap().pop().unwrap();
        assert_eq!(again.attempt, 2);
        t.ack("q", &again).await.unwrap();
    }
}
