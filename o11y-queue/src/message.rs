//! What travels through a queue: [`Message`] out, [`Delivery`] in.

use std::{collections::HashMap, time::SystemTime};

use bytes::Bytes;

/// Message metadata: lowercase names to text values (propagation fields,
/// the correlation id, and anything the application adds).
pub type Headers = HashMap<String, String>;

/// A message to publish, or the body of a received one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// Metadata carried in the broker's native fields where it has them.
    pub headers: Headers,
    /// The body, untouched unless a payload carriage is chosen.
    pub payload: Bytes,
}

impl Message {
    /// A message with `payload` and no headers.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            headers: Headers::new(),
            payload: payload.into(),
        }
    }

    /// Adds a header; the name is stored lowercase.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }
}

/// A received message, with what the broker knows about it and the
/// transport's handle to settle it (`R`, the transport's receipt).
#[derive(Clone, Debug)]
pub struct Delivery<R> {
    /// Headers and payload as they arrived (payload carriage not yet undone).
    pub message: Message,
    /// The broker's message id, when it has one.
    pub id: Option<String>,
    /// 1 for the first delivery, then one more for each redelivery.
    pub attempt: u32,
    /// When the message entered the queue, where the broker records it.
    pub enqueued_at: Option<SystemTime>,
    /// The transport's handle to ack, retry or dead-letter this delivery.
    pub receipt: R,
}

/// What a transport reports after publishing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The broker's id for the message, when it returns one.
    pub id: Option<String>,
}

impl Published {
    /// A publish result carrying `id`.
    pub fn with_id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
        }
    }
}

/// The message a consumer's handler receives.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Incoming {
    /// The queue it came from.
    pub destination: String,
    /// The body, with any envelope removed.
    pub payload: Bytes,
    /// Headers, merged from native metadata and the envelope.
    pub headers: Headers,
    /// The broker's message id, when it has one.
    pub id: Option<String>,
    /// 1 for the first delivery, then one more for each redelivery.
    pub attempt: u32,
}

impl From<Bytes> for Message {
    fn from(payload: Bytes) -> Self {
        Self::new(payload)
    }
}

impl From<Vec<u8>> for Message {
    fn from(payload: Vec<u8>) -> Self {
        Self::new(payload)
    }
}

impl From<String> for Message {
    fn from(payload: String) -> Self {
        Self::new(payload)
    }
}

impl From<&'static str> for Message {
    fn from(payload: &'static str) -> Self {
        Self::new(payload)
    }
}

impl From<&'static [u8]> for Message {
    fn from(payload: &'static [u8]) -> Self {
        Self::new(payload)
    }
}
