//! The whole propagator over a hostile header map: `traceparent`,
//! `tracestate`, `baggage`, `x-trace-id` and `x-request-id`, each possibly
//! repeated (input lines `name:value`). Extraction never panics; what is
//! injected again is well-formed and within the limits, and extracting it
//! gives the same trace.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use o11y_core::propagation::{Propagator, TRACESTATE_MAX_LEN, Traceparent};
use opentelemetry::{Context, trace::TraceContextExt};

const NAMES: [&str; 5] = ["traceparent", "tracestate", "baggage", "x-trace-id", "x-request-id"];

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&selector, value)) = line.split_first() else {
            continue;
        };
        let name = NAMES[usize::from(selector) % NAMES.len()];
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(HeaderName::from_static(name), value);
        }
    }
    let propagator = Propagator::default();
    let cx = propagator.extract_headers_with_context(&Context::new(), &headers);
    let mut out = HeaderMap::new();
    propagator.inject_headers(&cx, &mut out);
    if let Some(tp) = out.get("traceparent") {
        let tp = Traceparent::parse_bytes(tp.as_bytes()).expect("injected traceparent parses");
        assert_eq!(tp.trace_id(), cx.span().span_context().trace_id());
        let again = propagator.extract_headers_with_context(&Context::new(), &out);
        assert_eq!(again.span().span_context().trace_id(), tp.trace_id());
        assert_eq!(
            again.span().span_context().trace_state(),
            cx.span().span_context().trace_state()
        );
    }
    if let Some(ts) = out.get("tracestate") {
        assert!(!ts.is_empty() && ts.len() <= TRACESTATE_MAX_LEN);
    }
    for name in ["x-trace-id", "baggage"] {
        assert!(out.get_all(name).iter().count() <= 1, "{name} is never duplicated");
    }
});
