//! Where the trace context rides: native metadata, the payload envelope, or
//! a `traceContext` field inside a JSON body.

use bytes::Bytes;
use o11y_core::propagation::AnyCase;
use opentelemetry::{Context, propagation::TextMapPropagator};
use serde_json::{Map, Value};

use crate::{
    envelope::{self, EnvelopeError},
    message::{Headers, Message},
};

/// The JSON field Node.js services commonly use for trace context.
pub const TRACE_CONTEXT_FIELD: &str = "traceContext";

/// How a [`Producer`](crate::Producer) carries the context.
///
/// Consumers read every form whatever the producer chose: native metadata
/// first, then the envelope, then a JSON `traceContext` field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Carriage {
    /// In the broker's metadata; brokers without metadata get the envelope.
    #[default]
    Native,
    /// Always in the versioned payload envelope (headers move into the payload).
    Envelope,
    /// In native metadata and, when the payload is a JSON object, also as its
    /// `traceContext` field (`{...data, "traceContext": {"traceparent": ...}}`),
    /// for consumers that read only the body. The field is spliced into the
    /// bytes: key order, numbers of any size or precision, whitespace and
    /// escapes stay exactly as they were (a signed or byte-compared body only
    /// gains the field). An existing `traceContext` member has its value
    /// replaced; a payload that is not a valid JSON object is left alone.
    /// Cost: a validating pass that builds nothing, a scan of the top level
    /// and one copy, all linear and without recursion (any nesting depth).
    JsonField,
}

/// Puts the propagation fields of `cx` and the application headers into `message`.
pub(crate) fn inject(
    propagator: &dyn TextMapPropagator,
    cx: &Context,
    carriage: Carriage,
    native: bool,
    message: &mut Message,
) {
    let mut fields = Headers::new();
    propagator.inject_context(cx, &mut fields);
    if carriage == Carriage::JsonField {
        if let Some(body) = with_json_field(&message.payload, &fields) {
            message.payload = body;
        }
    }
    message.headers.extend(fields);
    if carriage == Carriage::Envelope || !native {
        let headers = std::mem::take(&mut message.headers);
        message.payload = envelope::encode(&headers, &message.payload);
    }
}

/// `payload` with its top-level `traceContext` member set to `fields`,
/// spliced into the bytes: everything else stays byte for byte as it was
/// (key order, numbers of any size or precision, whitespace, escapes). An
/// existing `traceContext` member has its value replaced in place; else the
/// member is added last. `None` (the payload left alone) unless the payload
/// is a valid JSON object within serde_json's nesting limit of 128.
///
/// Cost: one validating pass that builds nothing, one scan of the top
/// level (nested values skipped by counting brackets, no recursion), one
/// copy.
fn with_json_field(payload: &[u8], fields: &Headers) -> Option<Bytes> {
    if payload.get(skip_ws(payload, 0)) != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(payload).ok()?;
    let top = scan_object(payload)?;
    let tc: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let value = serde_json::to_vec(&Value::Object(tc)).ok()?;
    let mut out = Vec::with_capacity(payload.len() + value.len() + 20);
    match top.trace_context {
        Some((start, end)) => {
            out.extend_from_slice(payload.get(..start)?);
            out.extend_from_slice(&value);
            out.extend_from_slice(payload.get(end..)?);
        }
        None => {
            let at = top.last_value_end.unwrap_or(top.close);
            out.extend_from_slice(payload.get(..at)?);
            if top.last_value_end.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"");
            out.extend_from_slice(TRACE_CONTEXT_FIELD.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(&value);
            out.extend_from_slice(payload.get(at..)?);
        }
    }
    Some(Bytes::from(out))
}

/// Where things are in a top-level JSON object.
struct TopLevel {
    /// The value span of an existing `traceContext` member.
    trace_context: Option<(usize, usize)>,
    /// Just past the last member's value.
    last_value_end: Option<usize>,
    /// The closing brace.
    close: usize,
}

/// Scans the members of the object `b` (valid JSON, checked before).
fn scan_object(b: &[u8]) -> Option<TopLevel> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut top = TopLevel {
        trace_context: None,
        last_value_end: None,
        close: 0,
    };
    loop {
        i = skip_ws(b, i);
        if b.get(i) == Some(&b'}') {
            top.close = i;
            return Some(top);
        }
        let key_end = skip_string(b, i)?;
        let key = b.get(i + 1..key_end - 1)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, i + 1);
        let end = skip_value(b, start)?;
        if key == TRACE_CONTEXT_FIELD.as_bytes() {
            top.trace_context = Some((start, end));
        }
        top.last_value_end = Some(end);
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {
                top.close = i;
                return Some(top);
            }
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Past the string starting at `i` (its opening quote).
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// Past the value starting at `i`: a string, a nested object or array
/// (brackets counted, strings skipped), or a scalar.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// Where the consumer found the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Native,
    Envelope,
    JsonField,
    None,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Envelope => "envelope",
            Self::JsonField => "json_field",
            Self::None => "none",
        }
    }
}

/// A received message with the carriage undone.
pub(crate) struct Extracted {
    pub(crate) cx: Context,
    pub(crate) headers: Headers,
    pub(crate) payload: Bytes,
    pub(crate) source: Source,
    pub(crate) corrupt: Option<EnvelopeError>,
}

/// Reads the context: native headers first, then the envelope, then a JSON field.
pub(crate) fn extract(propagator: &dyn TextMapPropagator, message: &Message) -> Extracted {
    let mut headers = message.headers.clone();
    let native = has_context(&headers);
    let mut payload = message.payload.clone();
    let mut corrupt = None;
    let mut from_envelope = false;
    match envelope::decode_bytes(&message.payload) {
        Some(Ok((inner, body))) => {
            from_envelope = !native && has_context(&inner);
            for (k, v) in inner {
                headers.entry(k).or_insert(v);
            }
            payload = body;
        }
        Some(Err(e)) => corrupt = Some(e),
        None => {}
    }
    let mut source = match (native, from_envelope) {
        (true, _) => Source::Native,
        (false, true) => Source::Envelope,
        _ => Source::None,
    };
    let cx = if source == Source::None {
        match json_field(&payload) {
            Some(fields) => {
                source = Source::JsonField;
                propagator.extract_with_context(&Context::new(), &AnyCase(&fields))
            }
            None => propagator.extract_with_context(&Context::new(), &AnyCase(&headers)),
        }
    } else {
        propagator.extract_with_context(&Context::new(), &AnyCase(&headers))
    };
    Extracted {
        cx,
        headers,
        payload,
        source,
        corrupt,
    }
}

fn has_context(headers: &Headers) -> bool {
    headers.contains_key("traceparent")
        || headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("traceparent"))
}

/// The string members of a top-level `traceContext` object, when the payload
/// is a JSON object holding one with a `traceparent`. The top level is
/// scanned, nested values skipped; only the member is parsed.
fn json_field(payload: &[u8]) -> Option<Headers> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || !mentions_trace_context(payload) {
        return None;
    }
    // Only the member is parsed: the rest of the body may hold numbers
    // serde_json cannot represent, or nest deeper than it parses.
    let (start, end) = scan_object(payload)?.trace_context?;
    let Ok(Value::Object(tc)) = serde_json::from_slice::<Value>(payload.get(start..end)?) else {
        return None;
    };
    let fields: Headers = tc
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.to_ascii_lowercase(), s)),
            _ => None,
        })
        .collect();
    has_context(&fields).then_some(fields)
}

/// Whether the bytes hold `"traceContext"`: a plain JSON body without it is
/// not parsed at all.
fn mentions_trace_context(payload: &[u8]) -> bool {
    let key = b"\"traceContext\"";
    payload.windows(key.len()).any(|w| w == key)
}

#[cfg(test)]
mod tests {
    use o11y_core::propagation::Propagator;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    use super::*;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn remote() -> Context {
        let sc = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        Context::new().with_remote_span_context(sc)
    }

    fn trace_of(cx: &Context) -> String {
        cx.span().span_context().trace_id().to_string()
    }

    #[test]
    fn each_carriage_round_trips() {
        let p = Propagator::default();
        for (carriage, native, source) in [
            (Carriage::Native, true, Source::Native),
            (Carriage::Native, false, Source::Envelope),
            (Carriage::Envelope, true, Source::Envelope),
            (Carriage::JsonField, true, Source::Native),
        ] {
            let mut m = Message::new(&b"{\"a\":1}"[..]);
            inject(&p, &remote(), carriage, native, &mut m);
            let out = extract(&p, &m);
            assert_eq!(out.source, source, "{carriage:?} native={native}");
            assert_eq!(trace_of(&out.cx), "0af7651916cd43dd8448eb211c80319c");
        }
    }

    #[test]
    fn json_field_is_read_when_there_are_no_headers() {
        let p = Propagator::default();
        let mut m = Message::new(&b"{\"a\":1}"[..]);
        inject(&p, &remote(), Carriage::JsonField, true, &mut m);
        let body: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(body["traceContext"]["traceparent"], TP);
        assert_eq!(body["a"], 1);
        let out = extract(&p, &Message::new(m.payload));
        assert_eq!(out.source, Source::JsonField);
        assert_eq!(trace_of(&out.cx), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn native_headers_win_over_the_payload() {
        let p = Propagator::default();
        let body = format!("{{\"traceContext\":{{\"traceparent\":\"{TP}\"}}}}");
        let m = Message::new(body).with_header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        );
        let out = extract(&p, &m);
        assert_eq!(out.source, Source::Native);
        assert_eq!(trace_of(&out.cx), "11111111111111111111111111111111");
    }

    #[test]
    fn header_names_are_matched_ignoring_case() {
        let mut message = Message::new("x");
        let mut headers = Headers::new();
        Propagator::default().inject_context(&remote(), &mut headers);
        for (k, v) in headers {
            message.headers.insert(k.to_ascii_uppercase(), v);
        }
        let extracted = extract(&Propagator::default(), &message);
        assert_eq!(trace_of(&extracted.cx), trace_of(&remote()));
    }

    /// The payload with the field spliced in, and the member's bytes.
    fn spliced(body: &[u8]) -> (Vec<u8>, String) {
        let p = Propagator::default();
        let mut m = Message::new(body.to_vec());
        inject(&p, &remote(), Carriage::JsonField, true, &mut m);
        let mut fields = Headers::new();
        p.inject_context(&remote(), &mut fields);
        let fields: Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let field = format!(r#""traceContext":{}"#, Value::Object(fields));
        (m.payload.to_vec(), field)
    }

    #[test]
    fn json_field_is_spliced_leaving_every_other_byte() {
        let body = br#"{ "z" : 1,"a":12345678901234567890123456789,
  "pi":3.14159265358979323846264338327950288, "e":1E+400, "neg":-0.0,
  "s":"a \"quoted\" } ] brace \\", "n":{"b":[1,{"c":"}"},[]],"traceContextual":true} }"#;
        let (out, field) = spliced(body);
        let end = body.iter().rposition(|b| *b == b'}').unwrap();
        let last = body[..end].iter().rposition(|b| *b == b'}').unwrap() + 1;
        let mut expected = body[..last].to_vec();
        expected.extend_from_slice(b",");
        expected.extend_from_slice(field.as_bytes());
        expected.extend_from_slice(&body[last..]);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&expected)
        );
        let read = extract(&Propagator::default(), &Message::new(out));
        assert_eq!(read.source, Source::JsonField);
        assert_eq!(trace_of(&read.cx), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn an_existing_trace_context_is_replaced_in_place() {
        let body =
            br#"{"traceContext": {"traceparent":"old","x":[1]} ,"big":1.000000000000000000001}"#;
        let (out, field) = spliced(body);
        let value = field.trim_start_matches(r#""traceContext":"#);
        let expected = format!(r#"{{"traceContext": {value} ,"big":1.000000000000000000001}}"#);
        assert_eq!(String::from_utf8_lossy(&out), expected);
        let (empty, field) = spliced(b" { } ");
        assert_eq!(String::from_utf8_lossy(&empty), format!(" {{ {field}}} "));
    }

    #[test]
    fn json_field_leaves_other_payloads_alone() {
        for body in [
            &b"[1,2]"[..],
            b"\"text\"",
            b"{\"a\":1",
            b"{\"a\":1}}",
            b"{abc}",
            b"not json",
            b"",
            b"\xff{",
        ] {
            let (out, _) = spliced(body);
            assert_eq!(out, body, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_ten_megabyte_body_is_spliced() {
        let mut body = br#"{"data":""#.to_vec();
        body.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        body.extend_from_slice(br#"","n":[1,2,3]}"#);
        let (out, field) = spliced(&body);
        assert_eq!(out.len(), body.len() + 1 + field.len());
        assert!(out[..body.len() - 1] == body[..body.len() - 1], "kept");
        assert!(out.ends_with(format!(",{field}}}").as_bytes()));
    }

    #[test]
    fn a_deeply_nested_body_is_handled_without_a_panic() {
        // The splice never recurses: 100 000 levels get the field too.
        let depth = 100_000;
        let mut body = br#"{"a":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', depth));
        body.extend(std::iter::repeat_n(b']', depth));
        body.push(b'}');
        let (out, field) = spliced(&body);
        assert!(out.starts_with(&body[..body.len() - 1]), "kept");
        assert!(out.ends_with(format!("],{field}}}").as_bytes()));
        // Read back from the body alone, without recursion either.
        let read = extract(&Propagator::default(), &Message::new(out));
        assert_eq!(read.source, Source::JsonField);
        // Unbalanced nesting is left alone.
        let mut bad = br#"{"a":"#.to_vec();
        bad.extend(std::iter::repeat_n(b'[', depth));
        bad.push(b'}');
        let (out, _) = spliced(&bad);
        assert!(out == bad, "not JSON: untouched");
    }

    #[test]
    fn a_body_without_the_field_is_not_parsed() {
        assert!(!mentions_trace_context(br#"{"order":42}"#));
        assert!(mentions_trace_context(br#"{"traceContext":{}}"#));
        assert!(json_field(br#"{"order":42,"note":"traceContext"}"#).is_none());
    }

    #[test]
    fn foreign_and_hostile_payloads_carry_no_context() {
        let p = Propagator::default();
        for body in [
            &b"plain"[..],
            b"",
            b"{",
            b"[1,2]",
            b"{\"traceContext\":5}",
            b"{\"traceContext\":{\"traceparent\":\"garbage\"}}",
            b"\xff\xfe",
        ] {
            let out = extract(&p, &Message::new(body));
            assert!(!out.cx.span().span_context().is_valid(), "{body:?}");
            assert_eq!(&out.payload[..], body);
            assert!(out.corrupt.is_none());
        }
        let out = extract(&p, &Message::new(&b"o11y-envelope/1\n{oops"[..]));
        assert_eq!(out.corrupt, Some(EnvelopeError::Headers));
    }
}
