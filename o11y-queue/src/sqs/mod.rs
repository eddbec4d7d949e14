//! [`SqsTransport`]: Amazon SQS through aws-sdk-sqs.
//!
//! Headers travel as message attributes, within SQS's budget of 10: the
//! standard fields `traceparent`, `tracestate`, `baggage` and the
//! correlation id `x-trace-id` each as a `String` attribute of its own (the
//! names OpenTelemetry's SQS instrumentations for JavaScript, Python and
//! Java read and write), and every other header packed into one attribute
//! (`o11y`, a JSON object). A message so uses 5 attributes at most, however
//! many headers it has: nothing gives way, an application header beyond
//! them rides in the packed one (which other languages do not read). Leave
//! room for 5 when you add attributes of your own to messages sent around
//! this crate. Consumers request exactly those attributes and the system
//! attributes `AWSTraceHeader` (read as a fallback parent),
//! `ApproximateReceiveCount` (the attempt) and
//! `SentTimestamp`. A retry changes the message's visibility timeout to the
//! backoff (whole seconds); dead letters go to the queue `{destination}-dlq`,
//! created (when missing) with the longest retention SQS allows, 14 days.
//! Bodies are text: a payload that is not UTF-8 cannot be published.
//!
//! At least once: the attempt is `ApproximateReceiveCount`, which SQS raises
//! on every receive, before the handler runs, so a message that kills its
//! consumer again and again is dead-lettered once it exceeds `max_attempts`.
//! Delivered twice: a message handled but not deleted before its consumer
//! died, and one whose handler runs longer than the visibility timeout.
//!
//! Build the client as usual (aws-config), or by hand for a local server:
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), o11y_queue::TransportError> {
//! use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
//! use o11y_queue::{Producer, SqsOptions, SqsTransport};
//!
//! let config = aws_sdk_sqs::Config::builder()
//!     .behavior_version(BehaviorVersion::latest())
//!     .region(Region::new("us-east-1"))
//!     .credentials_provider(Credentials::new("test", "test", None, None, "static"))
//!     .endpoint_url("http://127.0.0.1:5000")
//!     .http_client(o11y_queue::sqs_http_client())
//!     .build();
//! let sqs = SqsTransport::new(aws_sdk_sqs::Client::from_conf(config), SqsOptions::default());
//! Producer::new(sqs).publish("orders", r#"{"id":42}"#).await?;
//! # Ok(()) }
//! ```

mod convert;
mod options;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use aws_sdk_sqs::{
    Client,
    types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName},
};
use opentelemetry::KeyValue;

pub use crate::sqs_attributes::PACKED_ATTRIBUTE;
pub use options::SqsOptions;

use crate::{
    message::{Delivery, Message, Published},
    semconv::AWS_SQS_QUEUE_URL,
    transport::{BoxError, Transport, TransportError, dead_letter_message},
};

/// The retention of dead-letter queues this transport creates: 14 days,
/// SQS's maximum (a new queue's default is 4 days).
const DEAD_LETTER_RETENTION: u32 = 14 * 24 * 3600;

/// Settles one [`SqsTransport`] delivery: the receipt handle and queue URL.
#[derive(Clone, Debug)]
pub struct SqsReceipt {
    handle: String,
    queue_url: String,
}

/// Amazon SQS transport; clones share the client and the queue URL cache.
#[derive(Clone, Debug)]
pub struct SqsTransport {
    client: Client,
    options: SqsOptions,
    urls: Arc<Mutex<HashMap<String, String>>>,
}

/// An HTTPS (and HTTP) client for aws-sdk-sqs using rustls with ring.
pub fn sqs_http_client() -> aws_sdk_sqs::config::SharedHttpClient {
    use aws_smithy_http_client::{Builder, tls};
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

fn err(operation: &'static str, destination: &str, e: impl Into<BoxError>) -> TransportError {
    TransportError::new(operation, destination, e)
}

impl SqsTransport {
    /// A transport on `client`.
    pub fn new(client: Client, options: SqsOptions) -> Self {
        Self {
            client,
            options,
            urls: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The URL of queue `name`, created if missing and allowed.
    pub async fn queue_url(&self, name: &str) -> Result<String, TransportError> {
        self.open_queue(name, None).await
    }

    /// The URL of queue `name`; created if missing and allowed, with
    /// `retention` (seconds) when given.
    async fn open_queue(
        &self,
        name: &str,
        retention: Option<u32>,
    ) -> Result<String, TransportError> {
        if let Some(url) = self
            .urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return Ok(url.clone());
        }
        let url = if self.options.create_queues {
            let mut create = self.client.create_queue().queue_name(name);
            if let Some(seconds) = retention {
                create = create.attributes(
                    QueueAttributeName::MessageRetentionPeriod,
                    seconds.to_string(),
                );
            }
            match create.send().await {
                Ok(out) => out.queue_url().map(str::to_owned),
                // It exists with other attributes (another retention): used
                // as it is.
                Err(e) if retention.is_some() => {
                    let out = self.client.get_queue_url().queue_name(name).send().await;
                    out.map_err(|_| err("create_queue", name, e))?
                        .queue_url()
                        .map(str::to_owned)
                }
                Err(e) => return Err(err("create_queue", name, e)),
            }
        } else {
            let out = self.client.get_queue_url().queue_name(name).send().await;
            out.map_err(|e| err("get_queue_url", name, e))?
                .queue_url()
                .map(str::to_owned)
        };
        let url = url.ok_or_else(|| err("get_queue_url", name, "no queue URL in the reply"))?;
        self.urls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), url.clone());
        Ok(url)
    }

    async fn send(
        &self,
        operation: &'static str,
        queue: &str,
        message: &Message,
    ) -> Result<Option<String>, TransportError> {
        let url = self.queue_url(queue).await?;
        let body = std::str::from_utf8(&message.payload).map_err(|e| err(operation, queue, e))?;
        let mut request = self.client.send_message().queue_url(url).message_body(body);
        for (name, value) in convert::attributes(&message.headers) {
            request = request.message_attributes(name, value);
        }
        let out = request.send().await.map_err(|e| err(operation, queue, e))?;
        Ok(out.message_id().map(str::to_owned))
    }

    async fn delete(
        &self,
        operation: &'static str,
        destination: &str,
        receipt: &SqsReceipt,
    ) -> Result<(), TransportError> {
        self.client
            .delete_message()
            .queue_url(&receipt.queue_url)
            .receipt_handle(&receipt.handle)
            .send()
            .await
            .map(drop)
            .map_err(|e| err(operation, destination, e))
    }
}

impl SqsTransport {
    /// Deletes up to 10 deliveries of one queue in one call.
    async fn delete_batch(
        &self,
        destination: &str,
        url: &str,
        deliveries: &[&&Delivery<SqsReceipt>],
    ) -> Result<(), TransportError> {
        let mut request = self.client.delete_message_batch().queue_url(url);
        for (i, d) in deliveries.iter().enumerate() {
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&d.receipt.handle)
                .build()
                .map_err(|e| err("ack", destination, e))?;
            request = request.entries(entry);
        }
        let out = request
            .send()
            .await
            .map_err(|e| err("ack", destination, e))?;
        match out.failed().first() {
            None => Ok(()),
            Some(failed) => {
                let why = failed.message().unwrap_or(failed.code()).to_owned();
                Err(err("ack", destination, why))
            }
        }
    }
}

impl Transport for SqsTransport {
    type Receipt = SqsReceipt;

    fn system(&self) -> &'static str {
        "aws_sqs"
    }

    fn dead_letter_destination(&self, destination: &str) -> String {
        format!("{destination}-dlq")
    }

    fn publish_attributes(&self, destination: &str) -> Vec<KeyValue> {
        let urls = self.urls.lock().unwrap_or_else(PoisonError::into_inner);
        urls.get(destination)
            .map(|url| vec![KeyValue::new(AWS_SQS_QUEUE_URL, url.clone())])
            .unwrap_or_default()
    }

    fn delivery_attributes(&self, delivery: &Delivery<SqsReceipt>) -> Vec<KeyValue> {
        let url = delivery.receipt.queue_url.clone();
        vec![KeyValue::new(AWS_SQS_QUEUE_URL, url)]
    }

    async fn publish(
        &self,
        destination: &str,
        message: Message,
    ) -> Result<Published, TransportError> {
        let id = self.send("publish", destination, &message).await?;
        Ok(Published { id })
    }

    async fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<SqsReceipt>>, TransportError> {
        let url = self.queue_url(destination).await?;
        let max = i32::try_from(max.clamp(1, 10)).unwrap_or(10);
        let mut request = self
            .client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(max)
            .wait_time_seconds(options::seconds(self.options.wait, 20))
            .message_attribute_names(PACKED_ATTRIBUTE)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader);
        for name in crate::sqs_attributes::LOOSE_ATTRIBUTES {
            request = request.message_attribute_names(name);
        }
        if let Some(v) = self.options.visibility_timeout {
            request = request.visibility_timeout(options::seconds(v, 43_200));
        }
        let out = request
            .send()
            .await
            .map_err(|e| err("receive", destination, e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Delivery {
                    message: Message {
                        headers: convert::headers(m),
                        payload: m.body().unwrap_or_default().to_owned().into(),
                    },
                    id: m.message_id().map(str::to_owned),
                    attempt: convert::attempt(m),
                    enqueued_at: convert::enqueued_at(m),
                    receipt: SqsReceipt {
                        handle: m.receipt_handle()?.to_owned(),
                        queue_url: url.clone(),
                    },
                })
            })
            .collect())
    }

    async fn ack(
        &self,
        destination: &str,
        delivery: &Delivery<SqsReceipt>,
    ) -> Result<(), TransportError> {
        self.delete("ack", destination, &delivery.receipt).await
    }

    async fn ack_batch(
        &self,
        destination: &str,
        deliveries: &[&Delivery<SqsReceipt>],
    ) -> Result<(), TransportError> {
        let mut first = None;
        // One DeleteMessageBatch per queue URL and per 10 entries.
        for chunk in deliveries.chunks(10) {
            let Some(head) = chunk.first() else { continue };
            let url = &head.receipt.queue_url;
            type Refs<'a, 'b> = Vec<&'a &'b Delivery<SqsReceipt>>;
            let (same, other): (Refs<'_, '_>, Refs<'_, '_>) =
                chunk.iter().partition(|d| d.receipt.queue_url == *url);
            for d in other {
                if let Err(e) = self.delete("ack", destination, &d.receipt).await {
                    first.get_or_insert(e);
                }
            }
            if let Err(e) = self.delete_batch(destination, url, &same).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The visibility timeout set in [`SqsOptions`], when set (the queue's
    /// own is not known: set it to have slow handlers' messages extended).
    fn lease(&self) -> Option<Duration> {
        self.options.visibility_timeout
    }

    async fn extend(
        &self,
        destination: &str,
        delivery: &Delivery<SqsReceipt>,
    ) -> Result<(), TransportError> {
        let lease = self.options.visibility_timeout.unwrap_or_default();
        self.client
            .change_message_visibility()
            .queue_url(&delivery.receipt.queue_url)
            .receipt_handle(&delivery.receipt.handle)
            .visibility_timeout(options::seconds(lease, 43_200))
            .send()
            .await
            .map(drop)
            .map_err(|e| err("extend", destination, e))
    }

    async fn retry(
        &self,
        destination: &str,
        delivery: &Delivery<SqsReceipt>,
        delay: Duration,
    ) -> Result<(), TransportError> {
        self.client
            .change_message_visibility()
            .queue_url(&delivery.receipt.queue_url)
            .receipt_handle(&delivery.receipt.handle)
            .visibility_timeout(options::seconds(delay, 43_200))
            .send()
            .await
            .map(drop)
            .map_err(|e| err("retry", destination, e))
    }

    async fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<SqsReceipt>,
        reason: &str,
    ) -> Result<(), TransportError> {
        let target = self.dead_letter_destination(destination);
        // Created with the longest retention SQS allows: 14 days.
        self.open_queue(&target, Some(DEAD_LETTER_RETENTION))
            .await?;
        self.send(
            "dead_letter",
            &target,
            &dead_letter_message(delivery, reason),
        )
        .await?;
        self.delete("dead_letter", destination, &delivery.receipt)
            .await
    }
}
