//! The correlation id (`X-Trace-ID`): a short, log-safe id that is read at the
//! edge (or made there), rides in the [`Context`] to every outbound call and
//! message, and appears on spans and log lines.
//!
//! A context's correlation id is the one stored in it, or else the trace id
//! of its span (32 lowercase hex digits). So an id made at the edge *is* the
//! trace id: the `X-Trace-ID` a caller gets back can be pasted into a trace
//! viewer, it follows the trace through services that forward only
//! `traceparent`, and nothing has to be generated, allocated or stored for it.
//! An id that differs from the trace id (a caller's own request id, or one
//! carried into a new trace) is stored in the context.
//!
//! ```
//! use o11y_core::{CorrelationId, CorrelationContextExt};
//! use opentelemetry::{Context, trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState}};
//!
//! let id = CorrelationId::parse("order-42").unwrap();
//! let cx = Context::new().with_correlation_id(id.clone());
//! assert_eq!(cx.correlation_id(), Some(id));
//! assert!(CorrelationId::parse("bad\nid").is_err()); // it ends up in logs
//!
//! // Without a stored id, a context with a span has its trace id.
//! let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
//! let sc = SpanContext::new(trace, SpanId::from_bytes([1; 8]), TraceFlags::SAMPLED, true, TraceState::NONE);
//! let cx = Context::new().with_remote_span_context(sc);
//! assert_eq!(cx.correlation().unwrap().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! ```

use std::{cell::Cell, fmt, sync::Arc};

use opentelemetry::{
    Context,
    trace::{TraceContextExt, TraceId},
};

/// The header this crate reads and writes by default.
pub const X_TRACE_ID: &str = "x-trace-id";
/// Also read when [`X_TRACE_ID`] is absent.
pub const X_REQUEST_ID: &str = "x-request-id";
/// Longest accepted correlation id, in bytes.
pub const MAX_LEN: usize = 128;

/// A validated correlation id: 1 to 128 characters from `A-Z a-z 0-9 - _ . : / + = @`.
///
/// Cloning is cheap (the text is shared).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CorrelationId(Arc<str>);

/// Why a correlation id was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCorrelationId {
    /// Empty, or longer than [`MAX_LEN`].
    #[error("correlation id must be 1 to {MAX_LEN} bytes long")]
    Length,
    /// A character outside the safe set (control characters, quotes, spaces, ...).
    #[error("correlation id contains a character outside A-Z a-z 0-9 - _ . : / + = @")]
    Character,
}

fn safe_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=' | b'@')
}

impl CorrelationId {
    /// Validates `value` (surrounding spaces and tabs are ignored).
    pub fn parse(value: &str) -> Result<Self, InvalidCorrelationId> {
        Self::check(value.as_bytes()).map(|v| Self(Arc::from(v_str(v))))
    }

    /// Validates raw header bytes without copying them unless they are valid.
    pub fn from_bytes(value: &[u8]) -> Result<Self, InvalidCorrelationId> {
        Self::check(value).map(|v| Self(Arc::from(v_str(v))))
    }

    fn check(value: &[u8]) -> Result<&[u8], InvalidCorrelationId> {
        let value = value.trim_ascii();
        if value.is_empty() || value.len() > MAX_LEN {
            return Err(InvalidCorrelationId::Length);
        }
        if !value.iter().all(|&c| safe_char(c)) {
            return Err(InvalidCorrelationId::Character);
        }
        Ok(value)
    }

    /// A new random id: 32 lowercase hex characters.
    pub fn generate() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bits = (u128::from(next_random()) << 64) | u128::from(next_random());
        let mut out = [0u8; 32];
        for (i, c) in out.iter_mut().enumerate() {
            let nibble = (bits >> (124 - 4 * i)) & 0xf;
            *c = HEX.get(nibble as usize).copied().unwrap_or(b'0');
        }
        Self(Arc::from(v_str(&out)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The correlation id of the current context, if any: the stored one,
    /// or else the current trace id.
    pub fn current() -> Option<Self> {
        Context::map_current(CorrelationContextExt::correlation_id)
    }

    /// The id a trace has when none is stored: its trace id, as 32 lowercase hex digits.
    pub fn from_trace_id(trace_id: TraceId) -> Self {
        Self(Arc::from(v_str(&hex32(trace_id))))
    }
}

fn v_str(v: &[u8]) -> &str {
    // `check` only lets ASCII through.
    std::str::from_utf8(v).unwrap_or_default()
}

fn next_random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            use std::hash::{BuildHasher, RandomState};
            RandomState::new().hash_one(std::time::SystemTime::now()) | 1
        });
    }
    STATE.with(|s| {
        // xorshift64*: fast and good enough for ids that are not secrets.
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// An attribute value sharing the id's text (no copy).
impl From<CorrelationId> for opentelemetry::Value {
    fn from(id: CorrelationId) -> Self {
        opentelemetry::Value::String(id.0.into())
    }
}

/// An attribute value sharing the id's text (no copy).
impl From<&CorrelationId> for opentelemetry::Value {
    fn from(id: &CorrelationId) -> Self {
        id.clone().into()
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CorrelationId").field(&&*self.0).finish()
    }
}

impl std::str::FromStr for CorrelationId {
    type Err = InvalidCorrelationId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn hex32(trace_id: TraceId) -> [u8; 32] {
    crate::hex::encode_u128(u128::from_be_bytes(trace_id.to_bytes()))
}

/// A context's correlation id, borrowed: the stored one, or its trace id
/// written out on the stack. Reading it allocates nothing.
#[derive(Clone, Copy)]
pub struct CorrelationRef<'a>(Repr<'a>);

#[derive(Clone, Copy)]
enum Repr<'a> {
    Stored(&'a CorrelationId),
    Trace([u8; 32]),
}

impl CorrelationRef<'static> {
    /// The id a trace has when none is stored: its trace id, as 32 lowercase
    /// hex digits, written out on the stack (nothing allocated).
    pub fn from_trace_id(trace_id: TraceId) -> Self {
        Self(Repr::Trace(hex32(trace_id)))
    }
}

impl CorrelationRef<'_> {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Stored(id) => id.as_str(),
            Repr::Trace(hex) => v_str(hex),
        }
    }

    /// The id as bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Stored(id) => id.as_str().as_bytes(),
            Repr::Trace(hex) => hex,
        }
    }

    /// An owned id (shares the stored text; a trace id's is allocated).
    pub fn to_id(&self) -> CorrelationId {
        match &self.0 {
            Repr::Stored(id) => (*id).clone(),
            Repr::Trace(hex) => CorrelationId(Arc::from(v_str(hex))),
        }
    }

    /// Whether this is the trace id rather than a stored id.
    pub fn is_trace_id(&self) -> bool {
        matches!(self.0, Repr::Trace(_))
    }
}

impl fmt::Display for CorrelationRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CorrelationRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CorrelationRef")
            .field(&self.as_str())
            .finish()
    }
}

impl PartialEq<CorrelationId> for CorrelationRef<'_> {
    fn eq(&self, other: &CorrelationId) -> bool {
        self.as_str() == other.as_str()
    }
}

/// Reads and stores the correlation id in an OpenTelemetry [`Context`].
pub trait CorrelationContextExt {
    /// The correlation id of this context, borrowed: the stored one, or else
    /// the trace id of its span when that is valid.
    fn correlation(&self) -> Option<CorrelationRef<'_>>;
    /// The correlation id of this context, owned (see [`correlation`](Self::correlation)).
    fn correlation_id(&self) -> Option<CorrelationId> {
        self.correlation().map(|c| c.to_id())
    }
    /// The id stored in this context, if any (not its trace id).
    fn stored_correlation_id(&self) -> Option<&CorrelationId>;
    /// A copy of this context whose correlation id is `id`. Nothing is stored
    /// when `id` is the trace id of the context's span already.
    fn with_correlation_id(&self, id: CorrelationId) -> Self;
}

fn trace_id_of(cx: &Context) -> Option<TraceId> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id())
}

impl CorrelationContextExt for Context {
    fn correlation(&self) -> Option<CorrelationRef<'_>> {
        if let Some(id) = self.get::<CorrelationId>() {
            return Some(CorrelationRef(Repr::Stored(id)));
        }
        trace_id_of(self).map(|t| CorrelationRef(Repr::Trace(hex32(t))))
    }

    fn stored_correlation_id(&self) -> Option<&CorrelationId> {
        self.get::<CorrelationId>()
    }

    fn with_correlation_id(&self, id: CorrelationId) -> Self {
        let implied = trace_id_of(self).is_some_and(|t| hex32(t) == id.as_str().as_bytes());
        if implied && self.get::<CorrelationId>().is_none() {
            return self.clone();
        }
        self.with_value(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_hex_is_the_w3c_form_for_every_byte_value() {
        for first in 0..=255u8 {
            let mut bytes = [0u8; 16];
            for (i, b) in bytes.iter_mut().enumerate() {
                *b = first.wrapping_add(i as u8 * 17);
            }
            let id = TraceId::from_bytes(bytes);
            assert_eq!(v_str(&hex32(id)), id.to_string());
        }
    }

    #[test]
    fn accepts_safe_ids_and_trims() {
        assert_eq!(
            CorrelationId::parse(" req-1:a/b+c=d@e_f.g ")
                .unwrap()
                .as_str(),
            "req-1:a/b+c=d@e_f.g"
        );
        assert_eq!(
            CorrelationId::parse(&"a".repeat(MAX_LEN))
                .unwrap()
                .as_str()
                .len(),
            MAX_LEN
        );
    }

    #[test]
    fn rejects_hostile_ids() {
        for bad in [
            "a\nb", "a\"b", "a'b", "a b", "a\\b", "a\u{0}b", "é", "{}", "<script>",
        ] {
            assert_eq!(
                CorrelationId::parse(bad),
                Err(InvalidCorrelationId::Character),
                "{bad:?}"
            );
        }
        assert_eq!(CorrelationId::parse(""), Err(InvalidCorrelationId::Length));
        assert_eq!(
            CorrelationId::parse(&"a".repeat(10 * 1024)),
            Err(InvalidCorrelationId::Length)
        );
        assert_eq!(
            CorrelationId::from_bytes(b"ab\xffcd"),
            Err(InvalidCorrelationId::Character)
        );
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = CorrelationId::generate();
        let b = CorrelationId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(CorrelationId::parse(a.as_str()).unwrap(), a);
    }

    fn remote(trace: &str) -> Context {
        use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceState};
        let sc = SpanContext::new(
            TraceId::from_hex(trace).unwrap(),
            SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, 7]),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        Context::new().with_remote_span_context(sc)
    }

    #[test]
    fn without_a_stored_id_the_trace_id_is_the_id() {
        let trace = "0af7651916cd43dd8448eb211c80319c";
        let cx = remote(trace);
        let id = cx.correlation().unwrap();
        assert!(id.is_trace_id());
        assert_eq!(id.as_str(), trace);
        assert_eq!(cx.correlation_id().unwrap().as_str(), trace);
        assert_eq!(cx.stored_correlation_id(), None);
        assert_eq!(Context::new().correlation_id(), None, "no span, no id");
    }

    #[test]
    fn the_trace_id_is_not_stored_but_other_ids_are() {
        let trace = "0af7651916cd43dd8448eb211c80319c";
        let cx = remote(trace).with_correlation_id(CorrelationId::parse(trace).unwrap());
        assert_eq!(cx.stored_correlation_id(), None, "implied by the trace");
        assert_eq!(cx.correlation_id().unwrap().as_str(), trace);
        let cx = remote(trace).with_correlation_id(CorrelationId::parse("order-42").unwrap());
        let id = cx.correlation().unwrap();
        assert!(!id.is_trace_id());
        assert_eq!(id.as_str(), "order-42");
        assert_eq!(cx.stored_correlation_id().unwrap().as_str(), "order-42");
        // A stored id is replaced even by the trace id.
        let back = cx.with_correlation_id(CorrelationId::parse(trace).unwrap());
        assert_eq!(back.correlation_id().unwrap().as_str(), trace);
        assert_eq!(
            CorrelationId::from_trace_id(TraceId::from_hex(trace).unwrap()).as_str(),
            trace
        );
    }

    #[test]
    fn context_carries_the_id() {
        let id = CorrelationId::parse("abc").unwrap();
        assert_eq!(CorrelationId::current(), None);
        let _guard = Context::current().with_correlation_id(id.clone()).attach();
        assert_eq!(CorrelationId::current(), Some(id));
    }
}
