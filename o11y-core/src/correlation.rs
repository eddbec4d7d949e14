//! The correlation id (`X-Trace-ID`): a short, log-safe id that is read at the
//! edge (or generated there), rides in the [`Context`] to every outbound call
//! and message, and appears on spans and log lines.
//!
//! ```
//! use o11y_core::{CorrelationId, CorrelationContextExt};
//! use opentelemetry::Context;
//!
//! let id = CorrelationId::parse("order-42").unwrap();
//! let cx = Context::new().with_correlation_id(id.clone());
//! assert_eq!(cx.correlation_id(), Some(&id));
//! assert!(CorrelationId::parse("bad\nid").is_err()); // it ends up in logs
//! ```

use std::{cell::Cell, fmt, sync::Arc};

use opentelemetry::Context;

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

    /// The correlation id of the current context, if any.
    pub fn current() -> Option<Self> {
        Context::map_current(|cx| cx.correlation_id().cloned())
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

/// Reads and stores the correlation id in an OpenTelemetry [`Context`].
pub trait CorrelationContextExt {
    /// The correlation id stored in this context.
    fn correlation_id(&self) -> Option<&CorrelationId>;
    /// A copy of this context carrying `id`.
    fn with_correlation_id(&self, id: CorrelationId) -> Self;
}

impl CorrelationContextExt for Context {
    fn correlation_id(&self) -> Option<&CorrelationId> {
        self.get::<CorrelationId>()
    }

    fn with_correlation_id(&self, id: CorrelationId) -> Self {
        self.with_value(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn context_carries_the_id() {
        let id = CorrelationId::parse("abc").unwrap();
        assert_eq!(CorrelationId::current(), None);
        let _guard = Context::current().with_correlation_id(id.clone()).attach();
        assert_eq!(CorrelationId::current(), Some(id));
    }
}
