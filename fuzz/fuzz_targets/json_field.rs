//! The `traceContext` JSON field spliced into any payload: never panics; a
//! payload that is not a JSON object is left exactly as it was; an object
//! stays valid JSON with every other member unchanged, and the context reads
//! back from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o11y_queue::{Carriage, Message, context};
use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};

fuzz_target!(|data: &[u8]| {
    let sc = SpanContext::new(
        TraceId::from(0x1234),
        SpanId::from(0x5678),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    let cx = Context::new().with_remote_span_context(sc);
    let mut message = Message::new(data.to_vec());
    context::inject(&cx, Carriage::JsonField, &mut message);
    let before: Option<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(data).ok();
    match before {
        Some(mut before) => {
            let after: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&message.payload).expect("still a JSON object");
            assert!(after.contains_key("traceContext"));
            before.remove("traceContext");
            let mut after_rest = after.clone();
            after_rest.remove("traceContext");
            assert_eq!(before, after_rest, "other members unchanged");
            let body_only = Message::new(message.payload.clone());
            let (read, _) = context::extract(&body_only);
            assert_eq!(read.span().span_context().trace_id(), TraceId::from(0x1234));
        }
        None if serde_json::from_slice::<serde::de::IgnoredAny>(data).is_err()
            || data.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') =>
        {
            assert_eq!(&message.payload[..], data, "left alone");
        }
        None => {}
    }
});
