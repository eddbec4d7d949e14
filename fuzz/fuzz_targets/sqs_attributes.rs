//! SQS message attributes both ways (o11y-queue's packing, without the AWS
//! types). Input: outgoing headers as `name:value` lines (`\n` in a value
//! written `\\n`), an empty line, then received attributes as
//! `name|type|value` lines (a `Binary` type carries no string value; the
//! name `AWSTraceHeader` is the system attribute), as many as wanted.
//!
//! Checks besides "no panic": at most 5 attributes go out (of SQS's 10),
//! each a value SQS accepts; every header comes back unchanged, the trace
//! context with it (docs/queues.md: nothing gives way); received attributes
//! are read as documented (the packed object's string members as sent, then
//! the standard attributes it lacked, then `AWSTraceHeader`).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use o11y_core::propagation::Traceparent;
use o11y_queue::{
    __fuzz::{
        LOOSE_ATTRIBUTES, PACKED_ATTRIBUTE, pack, sqs_accepts, traceparent_from_xray, unpack,
    },
    Headers,
};
use serde_json::Value;

/// SQS's limit of message attributes per message; the crate keeps to 5.
const SQS_MAX_ATTRIBUTES: usize = 10;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, tail) = text.split_once("\n\n").unwrap_or((&text, ""));

    // Outgoing: pack, then read back what SQS would deliver.
    let mut headers = Headers::new();
    for line in head.lines() {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.to_owned(), v.replace("\\n", "\n"));
        }
    }
    let attrs = pack(&headers);
    assert!(
        attrs.len() <= 5 && attrs.len() <= SQS_MAX_ATTRIBUTES,
        "{attrs:?}"
    );
    for (name, value) in &attrs {
        assert!(sqs_accepts(value), "SQS refuses {name}={value:?}");
        assert!(*name == PACKED_ATTRIBUTE || LOOSE_ATTRIBUTES.contains(name));
    }
    let mut names: Vec<_> = attrs.iter().map(|(n, _)| *n).collect();
    names.dedup();
    assert_eq!(names.len(), attrs.len(), "an attribute twice");
    let back = unpack(
        |name| {
            attrs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        },
        None,
    );
    assert_eq!(back, headers, "headers survive SQS");
    if let Some(tp) = headers.get("traceparent")
        && let Ok(sent) = Traceparent::parse_bytes(tp.as_bytes())
    {
        let got = Traceparent::parse_bytes(back["traceparent"].as_bytes()).expect("parses");
        assert_eq!(got.trace_id(), sent.trace_id());
        assert_eq!(got.span_id(), sent.span_id());
    }

    // Incoming: any attributes a sender (or SQS) may deliver.
    let mut received: HashMap<String, Option<String>> = HashMap::new();
    let mut xray = None;
    for line in tail.lines() {
        let mut parts = line.splitn(3, '|');
        let (Some(name), Some(data_type), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if name == "AWSTraceHeader" {
            xray = Some(value.to_owned());
        } else {
            let string = (!data_type.starts_with("Binary")).then(|| value.to_owned());
            received.insert(name.to_owned(), string);
        }
    }
    let string = |name: &str| received.get(name)?.as_deref();
    let got = unpack(string, xray.as_deref());
    let packed: HashMap<String, String> =
        match string(PACKED_ATTRIBUTE).and_then(|p| serde_json::from_str::<Value>(p).ok()) {
            Some(Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect(),
            _ => HashMap::new(),
        };
    let mut expected: Headers = packed.into_iter().collect();
    for name in LOOSE_ATTRIBUTES {
        if let Some(v) = string(name) {
            expected
                .entry(name.to_owned())
                .or_insert_with(|| v.to_owned());
        }
    }
    if !expected.contains_key("traceparent")
        && let Some(tp) = xray.as_deref().and_then(traceparent_from_xray)
    {
        let parsed = Traceparent::parse_bytes(tp.as_bytes()).expect("an X-Ray traceparent parses");
        assert_eq!(parsed.encode().as_str(), tp);
        expected.insert("traceparent".to_owned(), tp);
    }
    assert_eq!(got, expected, "received attributes read as documented");
});
