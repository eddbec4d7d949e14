//! Trace context into and out of messages for any broker client: rdkafka,
//! async-nats, hand-written lapin code, a database outbox.
//!
//! Convert your client's message to a [`Message`] (its headers as a map of
//! strings, its body as bytes), call [`inject`] before sending and
//! [`extract`] on receipt. The same rules as [`Producer`](crate::Producer)
//! and [`Consumer`](crate::Consumer) apply, with the propagator that
//! `o11y::init` installed: W3C `traceparent`/`tracestate`, `baggage` and the
//! correlation id, in the headers or, as the [`Carriage`] says, in a payload
//! envelope or a `traceContext` field spliced into a JSON body.
//!
//! ```
//! use o11y_queue::{Carriage, Message, context};
//! use opentelemetry::{Context, trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState}};
//!
//! // The sending side, inside the span that publishes.
//! let sc = SpanContext::new(TraceId::from(7), SpanId::from(9), TraceFlags::SAMPLED, false, TraceState::NONE);
//! let cx = Context::new().with_remote_span_context(sc);
//! let mut message = Message::new(r#"{"order":42,"total":1e400}"#);
//! context::inject(&cx, Carriage::JsonField, &mut message);
//! assert!(message.headers.contains_key("traceparent"));
//! // The body gained the field; everything else is byte for byte as it was.
//! assert!(message.payload.starts_with(br#"{"order":42,"total":1e400,"traceContext":"#));
//!
//! // The receiving side: headers first, then an envelope, then the JSON field.
//! let body_only = Message::new(message.payload.clone());
//! let (received, body) = context::extract(&body_only);
//! assert_eq!(received.span().span_context().trace_id(), TraceId::from(7));
//! assert_eq!(body.payload, message.payload);
//! ```

use opentelemetry::Context;

use crate::{Carriage, Message, carriage};

/// Puts `cx` into `message` as `carriage` says: the headers for
/// [`Carriage::Native`], the headers and a `traceContext` field of a JSON
/// object body for [`Carriage::JsonField`], a payload envelope (headers
/// included) for [`Carriage::Envelope`].
pub fn inject(cx: &Context, carriage: Carriage, message: &mut Message) {
    let propagator = o11y_core::propagation::Propagator::global().with_implied_correlation(false);
    carriage::inject(&propagator, cx, carriage, true, message);
}

/// The context `message` carries (its headers, else an envelope, else a
/// JSON body's `traceContext` field; an empty context when none is found or
/// it is invalid), and the message as the application sent it: envelope
/// removed, its headers merged in. A corrupt envelope is left in the
/// payload as it came.
pub fn extract(message: &Message) -> (Context, Message) {
    let propagator = o11y_core::propagation::Propagator::global().clone();
    let extracted = carriage::extract(&propagator, message);
    let body = Message {
        headers: extracted.headers,
        payload: extracted.payload,
    };
    (extracted.cx, body)
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    use super::*;

    fn cx() -> Context {
        let sc = SpanContext::new(
            TraceId::from(0xabc),
            SpanId::from(0xdef),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        Context::new().with_remote_span_context(sc)
    }

    #[test]
    fn every_carriage_round_trips() {
        for carriage in [Carriage::Native, Carriage::Envelope, Carriage::JsonField] {
            let mut message = Message::new(r#"{"id":1}"#);
            message.headers.insert("tenant".into(), "acme".into());
            inject(&cx(), carriage, &mut message);
            let (received, body) = extract(&message);
            let sc = received.span().span_context().clone();
            assert_eq!(sc.trace_id(), TraceId::from(0xabc), "{carriage:?}");
            assert_eq!(sc.span_id(), SpanId::from(0xdef), "{carriage:?}");
            assert!(sc.is_remote());
            assert_eq!(body.headers["tenant"], "acme", "{carriage:?}");
            if carriage == Carriage::Envelope {
                assert_eq!(&body.payload[..], br#"{"id":1}"#, "the envelope is removed");
            }
        }
    }

    #[test]
    fn a_message_without_context_gives_an_empty_context() {
        let (received, body) = extract(&Message::new("plain"));
        assert!(!received.span().span_context().is_valid());
        assert_eq!(&body.payload[..], b"plain");
        let mut bad = Message::new("x");
        bad.headers.insert("traceparent".into(), "garbage".into());
        assert!(!extract(&bad).0.span().span_context().is_valid());
    }
}
