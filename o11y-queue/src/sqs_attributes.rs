//! Headers to and from SQS message attributes, on plain strings (the AWS
//! types stay in `sqs::convert`), within the 10-attribute budget: the
//! standard propagation fields as `String` attributes of their own (what
//! OpenTelemetry's SQS instrumentations in other languages read), every
//! other header packed into one attribute as a JSON object; `AWSTraceHeader`
//! read as a fallback.

use o11y_core::propagation::Traceparent;
use serde_json::{Map, Value};

use crate::message::Headers;

/// The one message attribute holding every other header, as a JSON object.
pub const PACKED_ATTRIBUTE: &str = "o11y";

/// The standard single-header attributes, written and read: W3C trace
/// context, baggage and the correlation id.
pub const LOOSE_ATTRIBUTES: [&str; 4] = ["traceparent", "tracestate", "baggage", "x-trace-id"];

/// The `String` attributes for `headers`: each standard field as its own
/// attribute when SQS takes its value as it is, then one packed attribute
/// with every other header (none when there is no other). At most 5
/// attributes, whatever the headers, and every header rides in one of them:
/// a standard field SQS would refuse (empty, or holding characters outside
/// XML's) goes in the packed one.
pub fn pack(headers: &Headers) -> Vec<(&'static str, String)> {
    let loose = |name: &str| headers.get(name).filter(|v| sqs_accepts(v));
    let mut out: Vec<(&'static str, String)> = LOOSE_ATTRIBUTES
        .iter()
        .filter_map(|name| Some((*name, loose(name)?.clone())))
        .collect();
    let rest: Map<String, Value> = headers
        .iter()
        .filter(|(k, _)| !LOOSE_ATTRIBUTES.contains(&k.as_str()) || loose(k).is_none())
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if !rest.is_empty() {
        out.push((PACKED_ATTRIBUTE, xml_safe_json(&Value::Object(rest))));
    }
    out
}

/// Whether SQS accepts `value` as a `String` attribute: not empty, and only
/// the characters XML 1.0 allows (no control character but tab, line feed
/// and carriage return; no U+FFFE, U+FFFF).
pub fn sqs_accepts(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
                || c >= '\u{10000}'
        })
}

/// `value` as JSON that SQS accepts: serde_json escapes control characters,
/// and the two non-characters XML refuses (which can only stand in strings)
/// are written as escapes too.
fn xml_safe_json(value: &Value) -> String {
    let json = value.to_string();
    if json.contains(['\u{FFFE}', '\u{FFFF}']) {
        json.replace('\u{FFFE}', "\\ufffe")
            .replace('\u{FFFF}', "\\uffff")
    } else {
        json
    }
}

/// The headers of a received message, from the string value of its
/// attributes (`attribute(name)`) and its `AWSTraceHeader`: the packed
/// attribute, then the standard attributes the packed one did not hold,
/// then a `traceparent` made from `AWSTraceHeader` if none yet.
pub fn unpack<'a>(
    attribute: impl Fn(&str) -> Option<&'a str>,
    aws_trace_header: Option<&str>,
) -> Headers {
    let mut headers = attribute(PACKED_ATTRIBUTE)
        .map(unpack_json)
        .unwrap_or_default();
    for name in LOOSE_ATTRIBUTES {
        if let Some(v) = attribute(name) {
            headers
                .entry(name.to_owned())
                .or_insert_with(|| v.to_owned());
        }
    }
    if !headers.contains_key("traceparent")
        && let Some(tp) = aws_trace_header.and_then(traceparent_from_xray)
    {
        headers.insert("traceparent".to_owned(), tp);
    }
    headers
}

/// The string members of a packed JSON object, names as they were sent;
/// nothing from anything else.
fn unpack_json(packed: &str) -> Headers {
    match serde_json::from_str::<Value>(packed) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect(),
        _ => Headers::new(),
    }
}

/// `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>` as a W3C
/// `traceparent`; `None` unless every part is well formed and the result is
/// a valid `traceparent` (no all-zero trace or span id).
pub fn traceparent_from_xray(header: &str) -> Option<String> {
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
    let tp = format!("00-{time}{rest}-{parent}-{sampled}");
    // An all-zero id is well formed hex but no trace.
    Traceparent::parse(&tp).is_ok().then_some(tp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(headers: &Headers) -> Headers {
        let attrs = pack(headers);
        unpack(
            |name| {
                attrs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
            },
            None,
        )
    }

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
            // Found with the `sqs_attributes` fuzz target (input in
            // `fuzz/corpus/sqs_attributes/regress-xray-zero`): all-zero ids
            // made a `traceparent` no parser takes.
            "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
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
        let attrs = pack(&h);
        let names: Vec<&str> = attrs.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["traceparent", "tracestate", "baggage", "x-trace-id", "o11y"],
            "20 more headers still fit: packed"
        );
        let value = |name: &str| attrs.iter().find(|(n, _)| *n == name).unwrap().1.clone();
        assert_eq!(value("traceparent"), "tp");
        let packed = unpack_json(&value("o11y"));
        assert_eq!(packed.len(), 20);
        assert_eq!(packed["x-user-7"], "7");
        assert!(!packed.contains_key("traceparent"), "not twice");
        assert_eq!(round_trip(&h), h);
    }

    #[test]
    fn packing_is_left_out_when_empty_and_tolerates_garbage() {
        let only = Headers::from([("traceparent".to_owned(), "tp".to_owned())]);
        let names: Vec<&str> = pack(&only).iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["traceparent"]);
        assert!(pack(&Headers::new()).is_empty());
        assert!(unpack_json("{not json").is_empty());
        assert!(unpack_json("[1]").is_empty());
        assert!(unpack(|_| None, Some("Root=garbage")).is_empty());
    }

    /// Found with the `sqs_attributes` fuzz target (input in
    /// `fuzz/corpus/sqs_attributes/regress-header-case`): packed header names came back lowercased, so `X-Tenant` arrived as
    /// `x-tenant` and two names differing only in case collapsed into one.
    #[test]
    fn packed_header_names_keep_their_case() {
        let h = Headers::from([
            ("X-Tenant".to_owned(), "acme".to_owned()),
            ("x-tenant".to_owned(), "other".to_owned()),
            ("Traceparent".to_owned(), "kept as sent".to_owned()),
        ]);
        assert_eq!(round_trip(&h), h);
    }

    /// Found with the `sqs_attributes` fuzz target (inputs in
    /// `fuzz/corpus/sqs_attributes/regress-*`): a standard field with an empty value was
    /// dropped, and one holding a control character or U+FFFF went out as
    /// an attribute SQS refuses, failing the send. Both ride in the packed
    /// attribute now, escaped.
    #[test]
    fn standard_fields_sqs_refuses_are_packed() {
        let h = Headers::from([
            ("tracestate".to_owned(), String::new()),
            ("baggage".to_owned(), "k=v;p\u{1}".to_owned()),
            ("x-trace-id".to_owned(), "id\u{FFFF}\u{FFFE}".to_owned()),
            ("x-user".to_owned(), "\u{0}\u{FFFF}".to_owned()),
        ]);
        let attrs = pack(&h);
        let names: Vec<&str> = attrs.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["o11y"]);
        assert!(attrs.iter().all(|(_, v)| sqs_accepts(v)), "{attrs:?}");
        assert_eq!(round_trip(&h), h);
    }

    #[test]
    fn the_packed_attribute_wins_over_a_loose_one() {
        let packed = r#"{"traceparent":"from-packed","X-Mixed":"v","n":1}"#;
        let h = unpack(
            |name| match name {
                PACKED_ATTRIBUTE => Some(packed),
                "traceparent" => Some("loose"),
                "baggage" => Some("k=v"),
                _ => None,
            },
            Some("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"),
        );
        assert_eq!(
            h,
            Headers::from([
                ("traceparent".to_owned(), "from-packed".to_owned()),
                ("X-Mixed".to_owned(), "v".to_owned()),
                ("baggage".to_owned(), "k=v".to_owned()),
            ])
        );
    }
}
