//! SQS message attributes to and from headers, within the 10-attribute
//! budget: every header packed into one attribute; `AWSTraceHeader` read as a
//! fallback.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{
    Message as SqsMessage, MessageAttributeValue, MessageSystemAttributeName,
};
use serde_json::{Map, Value};

use crate::message::Headers;

/// The one message attribute holding every header, as a JSON object.
pub const PACKED_ATTRIBUTE: &str = "o11y";

/// Single-header attributes other producers write, also read.
pub(super) const LOOSE_ATTRIBUTES: [&str; 4] =
    ["traceparent", "tracestate", "baggage", "x-trace-id"];

/// The packed attribute for `headers`, or `None` when there are none.
pub(super) fn pack(headers: &Headers) -> Option<MessageAttributeValue> {
    if headers.is_empty() {
        return None;
    }
    let map: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(Value::Object(map).to_string())
        .build()
        .ok()
}

/// The headers of a received message: the packed attribute, loose string
/// attributes, then a `traceparent` made from `AWSTraceHeader` if none yet.
pub(super) fn headers(message: &SqsMessage) -> Headers {
    let mut headers = Headers::new();
    if let Some(attrs) = message.message_attributes() {
        if let Some(packed) = attrs.get(PACKED_ATTRIBUTE).and_then(|a| a.string_value()) {
            headers.extend(unpack(packed));
        }
        for name in LOOSE_ATTRIBUTES {
            if let Some(v) = attrs.get(name).and_then(|a| a.string_value()) {
                headers
                    .entry(name.to_owned())
                    .or_insert_with(|| v.to_owned());
            }
        }
    }
    if !headers.contains_key("traceparent") {
        let xray = system(message, MessageSystemAttributeName::AwsTraceHeader);
        if let Some(tp) = xray.and_then(traceparent_from_xray) {
            headers.insert("traceparent".to_owned(), tp);
        }
    }
    headers
}

fn unpack(packed: &str) -> Headers {
    match serde_json::from_str::<Value>(packed) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.to_ascii_lowercase(), s)),
                _ => None,
            })
            .collect(),
        _ => Headers::new(),
    }
}

pub(super) fn system(message: &SqsMessage, name: MessageSystemAttributeName) -> Option<&str> {
    message.attributes()?.get(&name).map(String::as_str)
}

/// 1 for the first receive (`ApproximateReceiveCount`).
pub(super) fn attempt(message: &SqsMessage) -> u32 {
    system(message, MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// `SentTimestamp` (milliseconds since the epoch).
pub(super) fn enqueued_at(message: &SqsMessage) -> Option<SystemTime> {
    let ms: u64 = system(message, MessageSystemAttributeName::SentTimestamp)?
        .parse()
        .ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>` as a W3C
/// `traceparent`; `None` unless every part is well formed.
pub(super) fn traceparent_from_xray(header: &str) -> Option<String> {
    let (mut root, mut parent, mut sampled) = (None, None, "00");
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", v)) => root = Some(v),
            Some(("Parent", v)) => parent = Some(v),
            Some(("Sampled", "1")) => sampled = "01",
            _ => {}
        }
    }
    let mut pieces = root?.split('-');
    let (version, time, rest) = (pieces.next()?, pieces.next()?, pieces.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let parent = parent?;
    if version != "1"
        || pieces.next().is_some()
        || !hex(time, 8)
        || !hex(rest, 24)
        || !hex(parent, 16)
    {
        return None;
    }
    Some(format!("00-{time}{rest}-{parent}-{sampled}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_headers_become_traceparents() {
        assert_eq!(
            traceparent_from_xray(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
            )
            .as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01")
        );
        assert_eq!(
            traceparent_from_xray(
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"
            )
            .as_deref(),
            Some("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00")
        );
        for bad in [
            "",
            "Root=1-x-y;Parent=z",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
        ] {
            assert_eq!(traceparent_from_xray(bad), None, "{bad}");
        }
    }

    #[test]
    fn packing_round_trips_and_tolerates_garbage() {
        let h = Headers::from([("traceparent".to_owned(), "tp".to_owned())]);
        let packed = pack(&h).unwrap();
        assert_eq!(unpack(packed.string_value().unwrap()), h);
        assert!(pack(&Headers::new()).is_none());
        assert!(unpack("{not json").is_empty());
        assert!(unpack("[1]").is_empty());
    }
}
