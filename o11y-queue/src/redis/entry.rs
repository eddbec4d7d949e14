//! Stream entries to and from [`Message`]s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;
use serde_json::{Map, Value as Json};

use crate::message::{Headers, Message};

/// The entry field holding the payload; every other field is a header.
pub const PAYLOAD_FIELD: &str = "payload";

/// A stream entry: its id and field/value pairs.
pub(super) type Entry = (String, Vec<Vec<u8>>);

/// The `XADD` field/value list of `message` (a header named `payload` is dropped).
pub(super) fn fields(message: &Message) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::with_capacity(message.headers.len() + 1);
    out.push((PAYLOAD_FIELD.as_bytes(), &message.payload[..]));
    for (k, v) in &message.headers {
        if k != PAYLOAD_FIELD {
            out.push((k.as_bytes(), v.as_bytes()));
        }
    }
    out
}

/// The message in an entry's flat field list. Entries written by other
/// producers without a `payload` field become a JSON object of their fields.
pub(super) fn message(flat: Vec<Vec<u8>>) -> Message {
    let mut headers = Headers::new();
    let mut payload = None;
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let mut key = text(k);
        key.make_ascii_lowercase();
        if key == PAYLOAD_FIELD {
            payload = Some(v);
            continue;
        }
        headers.insert(key, text(v));
    }
    let payload = payload.unwrap_or_else(|| foreign_payload(&headers));
    Message {
        headers,
        payload: payload.into(),
    }
}

/// `bytes` as text, copied only when they are not valid UTF-8.
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The fields of a foreign entry (no `payload` field) as a JSON object.
fn foreign_payload(fields: &Headers) -> Vec<u8> {
    let all: Map<String, Json> = fields
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    Json::Object(all).to_string().into_bytes()
}

/// When an entry was added, from its `<ms>-<seq>` id.
pub(super) fn enqueued_at(id: &str) -> Option<SystemTime> {
    let ms: u64 = id.split('-').next()?.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// Entries from a reply element list, skipping anything malformed or deleted.
pub(super) fn entries(values: Vec<Value>) -> Vec<Entry> {
    values
        .into_iter()
        .filter_map(|v| redis::from_redis_value::<Entry>(v).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_foreign_entries() {
        let m = Message::new("body").with_header("traceparent", "tp");
        let flat: Vec<Vec<u8>> = fields(&m)
            .into_iter()
            .flat_map(|(k, v)| [k.to_vec(), v.to_vec()])
            .collect();
        assert_eq!(message(flat), m);
        let foreign = message(vec![b"Order".to_vec(), b"7".to_vec(), b"odd".to_vec()]);
        assert_eq!(&foreign.payload[..], br#"{"order":"7"}"#);
        assert_eq!(
            enqueued_at("1700000000000-3")
                .map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_millis()),
            Some(1_700_000_000_000)
        );
        assert_eq!(enqueued_at("garbage"), None);
    }
}
