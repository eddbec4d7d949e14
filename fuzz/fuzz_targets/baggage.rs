//! W3C `baggage` extraction over several header values (the input split at
//! newlines), through the crate's propagator: never panics; what is kept is
//! within the limits (64 members, 8192 bytes), is sent on as one header of at
//! most 8192 bytes, and that header extracts to the same members, less only
//! those whose encoded form would not fit.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use o11y_core::propagation::{BAGGAGE, Propagator};
use opentelemetry::{
    Context,
    baggage::{Baggage, BaggageExt, KeyValueMetadata},
};

/// The W3C limits, which the SDK applies on extraction.
const MAX_MEMBERS: usize = 64;
const MAX_BYTES: usize = 8192;

/// Every member as (key, value, properties), sorted. The properties are
/// compared with the whitespace around their `;` trimmed: W3C Baggage makes
/// it optional (`OWS ";" OWS`), and the SDK, which keeps them as one string,
/// trims each property it reads, so `p%20%3Bq` reads as `p ;q` once and as
/// `p;q` after that.
fn members(cx: &Context) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = cx
        .baggage()
        .iter()
        .map(|(k, (v, m))| {
            let props: Vec<&str> = m.as_str().split(';').map(str::trim).collect();
            (k.to_string(), v.to_string(), props.join(";"))
        })
        .collect();
    out.sort();
    out
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for value in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(BAGGAGE, value);
        }
    }
    let propagator = Propagator::default();
    let cx = propagator.extract_headers_with_context(&Context::new(), &headers);
    let kept = members(&cx);
    assert!(kept.len() <= MAX_MEMBERS, "{} members", kept.len());
    let bytes: usize = kept
        .iter()
        .map(|(k, v, m)| k.len() + v.len() + m.len())
        .sum();
    assert!(bytes <= MAX_BYTES, "{bytes} bytes kept");

    let mut out = HeaderMap::new();
    propagator.inject_headers(&cx, &mut out);
    let sent: Vec<_> = out.get_all(BAGGAGE).iter().collect();
    assert!(sent.len() <= 1, "one baggage header at most");
    let header = sent
        .first()
        .map_or("", |v| v.to_str().expect("visible ASCII"));
    assert!(
        header.len() <= MAX_BYTES,
        "a sent header of {} bytes",
        header.len()
    );
    let room = MAX_BYTES - header.len();
    let again = members(&propagator.extract_headers_with_context(&Context::new(), &out));
    for member in &kept {
        if again.contains(member) {
            continue;
        }
        // Left out: only a member whose encoded form would not fit.
        let (k, v, _) = member.clone();
        let (_, m) = cx.baggage().get_with_metadata(k.as_str()).expect("kept");
        let alone = Context::new().with_baggage(
            [KeyValueMetadata::new(k, v, m.as_str())]
                .into_iter()
                .collect::<Baggage>(),
        );
        let mut single = HeaderMap::new();
        propagator.inject_headers(&alone, &mut single);
        // No header at all: the member alone is past the limit.
        let encoded = single.get(BAGGAGE).map_or(MAX_BYTES + 1, HeaderValue::len);
        assert!(encoded + 1 > room, "{member:?} left out of {header:?}");
    }
    assert!(again.iter().all(|m| kept.contains(m)), "sent as {header:?}");
    let members_sent = header.split(',').filter(|m| !m.is_empty()).count();
    assert_eq!(again.len(), members_sent, "every member sent reads back");
});
