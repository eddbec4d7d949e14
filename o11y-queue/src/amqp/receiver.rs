//! One lapin consumer per destination, pulled by `receive`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use futures_util::{FutureExt as _, StreamExt as _};
use lapin::{
    Channel, Connection,
    options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions},
    types::FieldTable,
};

use super::{AmqpOptions, AmqpReceipt, convert, err};
use crate::{
    message::{Delivery, Message},
    transport::TransportError,
};

struct Receiver {
    channel: Channel,
    consumer: lapin::Consumer,
    tag: String,
}

type Slot = Arc<tokio::sync::Mutex<Option<Receiver>>>;

/// The receivers of a transport, created on first receive.
pub(super) struct Receivers {
    options: AmqpOptions,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Receivers {
    pub(super) fn new(options: AmqpOptions) -> Self {
        Self {
            options,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, destination: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(destination.to_owned()).or_default().clone()
    }

    pub(super) async fn receive(
        &self,
        connection: &Connection,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<AmqpReceipt>>, TransportError> {
        let slot = self.slot(destination);
        let mut guard = slot.lock().await;
        // A channel that died (its connection closed) is replaced.
        if guard
            .as_ref()
            .is_some_and(|r| !r.channel.status().connected())
        {
            *guard = None;
        }
        if guard.is_none() {
            *guard = Some(self.open(connection, destination).await?);
        }
        let Some(receiver) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let first = tokio::time::timeout(self.options.poll, receiver.consumer.next()).await;
        let Ok(first) = first else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Some(Ok(d)) => out.push(delivery(d)),
                // A failed or cancelled consumer is replaced on the next receive.
                Some(Err(e)) => {
                    *guard = None;
                    return failed(out, err("receive", destination, e));
                }
                None => {
                    *guard = None;
                    let e =
                        TransportError::new("receive", destination, "the consumer was cancelled");
                    return failed(out, e);
                }
            }
            if out.len() < max {
                next = guard
                    .as_mut()
                    .and_then(|r| r.consumer.next().now_or_never());
            }
        }
        Ok(out)
    }

    async fn open(
        &self,
        connection: &Connection,
        destination: &str,
    ) -> Result<Receiver, TransportError> {
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| err("receive", destination, e))?;
        channel
            .basic_qos(self.options.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| err("receive", destination, e))?;
        let tag = format!("o11y-{}", o11y_core::CorrelationId::generate().as_str());
        let consumer = channel
            .basic_consume(
                destination,
                &tag,
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| err("receive", destination, e))?;
        Ok(Receiver {
            channel,
            consumer,
            tag,
        })
    }

    /// Cancels the consumer and closes its channel: prefetched, unacked
    /// deliveries go back to the queue.
    pub(super) async fn stop(&self, destination: &str) {
        let slot = self.slot(destination);
        let taken = slot.lock().await.take();
        if let Some(r) = taken {
            let _ = r
                .channel
                .basic_cancel(&r.tag, BasicCancelOptions::default())
                .await;
            let _ = r.channel.close(200, "consumer stopped").await;
        }
    }
}

/// What was received before a failure is still handed out; the failure
/// shows on the next receive.
fn failed(
    out: Vec<Delivery<AmqpReceipt>>,
    e: TransportError,
) -> Result<Vec<Delivery<AmqpReceipt>>, TransportError> {
    if out.is_empty() { Err(e) } else { Ok(out) }
}

fn delivery(d: lapin::message::Delivery) -> Delivery<AmqpReceipt> {
    let headers = convert::headers(&d.properties);
    let count = convert::delivery_count(&d.properties);
    Delivery {
        attempt: convert::attempt(&headers, count, d.redelivered),
        id: d
            .properties
            .message_id()
            .as_ref()
            .map(|s| s.as_str().to_owned()),
        enqueued_at: convert::enqueued_at(&d.properties),
        message: Message {
            headers,
            payload: d.data.into(),
        },
        receipt: AmqpReceipt {
            acker: d.acker,
            delivery_tag: d.delivery_tag,
            routing_key: d.routing_key.as_str().to_owned(),
        },
    }
}
