//! Writes an event's or a span's fields as `,"key":value` pairs.

use std::fmt;

use tracing::field::{Field, Visit};

use super::escape;

/// Keys the layer writes itself on an event line; a field with one of these
/// names is written as `field_<name>` instead.
pub const RESERVED: &[&str] = &[
    "timestamp",
    "level",
    "target",
    "service",
    "trace_id",
    "span_id",
    "correlation_id",
    "span",
];

/// Whether the layer writes `name` itself on an event line ([`RESERVED`]).
fn is_reserved(name: &str) -> bool {
    matches!(
        name,
        "timestamp"
            | "level"
            | "target"
            | "service"
            | "trace_id"
            | "span_id"
            | "correlation_id"
            | "span"
    )
}

/// Which names are reserved where a visitor writes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Keys {
    /// An event line: [`RESERVED`].
    Event,
    /// Inside the `span` object: `name`.
    Span,
}

impl Keys {
    fn reserves(self, name: &str) -> bool {
        match self {
            Keys::Event => is_reserved(name),
            Keys::Span => name == "name",
        }
    }
}

/// The prefix given to a field whose name is reserved.
pub const RESERVED_PREFIX: &str = "field_";

/// Appends each recorded field to `out`.
pub(crate) struct FieldVisitor<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) limit: usize,
    pub(crate) reserved: Keys,
}

impl FieldVisitor<'_> {
    fn key(&mut self, field: &Field) {
        let name = field.name();
        self.out.extend_from_slice(b",\"");
        if self.reserved.reserves(name) {
            self.out.extend_from_slice(RESERVED_PREFIX.as_bytes());
        }
        escape::escape(self.out, name);
        self.out.extend_from_slice(b"\":");
    }

    fn number(&mut self, field: &Field, n: impl fmt::Display) {
        use std::io::Write as _;
        self.key(field);
        let _ = write!(self.out, "{n}");
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        escape::debug(self.out, value, self.limit);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        escape::string(self.out, value, self.limit);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        escape::float(self.out, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        escape::int(self.out, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        escape::uint(self.out, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.out.extend_from_slice(text);
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.key(field);
        escape::bytes(self.out, value, self.limit);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        escape::debug(self.out, &format_args!("{value}"), self.limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_list_and_the_check_agree() {
        for name in RESERVED {
            assert!(Keys::Event.reserves(name), "{name}");
        }
        assert!(!Keys::Event.reserves("message") && !Keys::Event.reserves("name"));
        assert!(Keys::Span.reserves("name") && !Keys::Span.reserves("trace_id"));
    }
}
