//! SQS message attributes to and from headers, within the 10-attribute
//! budget: the standard propagation fields as attributes of their own (what
//! OpenTelemetry's SQS instrumentations in other languages read), every
//! other header packed into one attribute; `AWSTraceHeader` read as a
//! fallback.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{
    Message as SqsMessage, MessageAttributeValue, MessageSystemAttributeName,
};
use serde_json::{Map, Value};

use crate::message::Headers;

/// The one message attribute holding every header, as a JSON object.
pub const PACKED_ATTRIBUTE: &str = "o11y";

/// The standard single-header attributes, written and read: W3C trace
/// context, baggage and the correlation id.
pub(super) const LOOSE_ATTRIBUTES: [&str; 4] =
    ["traceparent", "tracestate", "baggage", "x-trace-id"];

/// The message attributes for `headers`: each standard field present as its
/// own `String` attribute, then one packed attribute with every other header
/// (none when there is no other). At most 5 attributes, whatever the headers.
pub(super) fn attributes(headers: &Headers) -> Vec<(&'static str, MessageAttributeValue)> {
    let mut out: Vec<(&'static str, MessageAttributeValue)> = LOOSE_ATTRIBUTES
        .iter()
        .filter_map(|name| Some((*name, string(headers.get(*name)?)?)))
        .collect();
    let rest: Map<String, Value> = headers
        .iter()
        .filter(|(k, _)| !LOOSE_ATTRIBUTES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !rest.is_empty()
        && let Some(packed) = string(&Value::Object(rest).to_string())
    {
        out.push((PACKED_ATTRIBUTE, packed));
    }
    out
}

/// A `String` attribute; `None` for an empty value, which SQS refuses.
fn string(value: &str) -> Option<MessageAttributeValue> {
    if value.is_empty() {
        return None;
    }
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
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
    fn standard_fields_ride_alone_the_rest_packed() {
        let mut h = Headers::from([
            ("traceparent".to_owned(), "tp".to_owned()),
            ("tracestate".to_owned(), "a=1".to_owned()),
            ("baggage".to_owned(), "k=v".to_owned()),
            ("x-trace-id".to_owned(), "corr".to_owned()),
        ]);
        for i in 0..20 {
            h.insert(format!("x-user-{i}"), i.to_string());
        }
        let attrs = attributes(&h);
        let names: Vec<&str> = attrs.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["traceparent", "tracestate", "baggage", "x-trace-id", "o11y"],
            "20 more headers still fit: packed"
        );
        let value = |name: &str| {
            let (_, v) = attrs.iter().find(|(n, _)| *n == name).unwrap();
            v.string_value().unwrap().to_owned()
        };
        assert_eq!(value("traceparent"), "tp");
        let packed = unpack(&value("o11y"));
        assert_eq!(packed.len(), 20);
        assert_eq!(packed["x-user-7"], "7");
        assert!(!packed.contains_key("traceparent"), "not twice");
    }

    #[test]
    fn packing_is_left_out_when_empty_and_tolerates_garbage() {
        let only = Headers::from([("traceparent".to_owned(), "tp".to_owned())]);
        let names: Vec<&str> = attributes(&only).iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["traceparent"]);
        assert!(attributes(&Headers::new()).is_empty());
        let empty = Headers::from([("tracestate".to_owned(), String::new())]);
        assert!(attributes(&empty).is_empty(), "SQS refuses empty values");
        assert!(unpack("{not json").is_empty());
        assert!(unpack("[1]").is_empty());
    }
}
