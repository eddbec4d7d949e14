//! Where the trace context rides: native metadata, the payload envelope, or
//! a `traceContext` field inside a JSON body.

use bytes::Bytes;
use opentelemetry::{
    Context,
    propagation::{Extractor, TextMapPropagator},
};
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
    /// for consumers that read only the body.
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

fn with_json_field(payload: &[u8], fields: &Headers) -> Option<Bytes> {
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(payload) else {
        return None;
    };
    let tc: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    body.insert(TRACE_CONTEXT_FIELD.to_owned(), Value::Object(tc));
    serde_json::to_vec(&body).ok().map(Bytes::from)
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
                propagator.extract_with_context(&Context::new(), &Carrier(&fields))
            }
            None => propagator.extract_with_context(&Context::new(), &Carrier(&headers)),
        }
    } else {
        propagator.extract_with_context(&Context::new(), &Carrier(&headers))
    };
    Extracted {
        cx,
        headers,
        payload,
        source,
        corrupt,
    }
}

/// Reads [`Headers`] for a propagator: the key as given (this crate and most
/// producers write lowercase names), then ignoring ASCII case, without the
/// lowercased copy of every key that `HashMap`'s own `Extractor` makes.
struct Carrier<'a>(&'a Headers);

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = self.0.get(key).or_else(|| {
            let mut all = self.0.iter();
            all.find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        });
        value.map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

fn has_context(headers: &Headers) -> bool {
    headers.contains_key("traceparent")
}

/// The string members of a top-level `traceContext` object, when the payload
/// is a JSON object holding one with a `traceparent`.
fn json_field(payload: &[u8]) -> Option<Headers> {
    let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || !mentions_trace_context(payload) {
        return None;
    }
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(payload) else {
        return None;
    };
    let Some(Value::Object(tc)) = body.remove(TRACE_CONTEXT_FIELD) else {
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
