//! The current span's name and fields, rendered once when the span is made
//! (and on `Span::record`), so an event only copies them.

use tracing::span::{Attributes, Record};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::visit::{FieldVisitor, Keys};

/// The fields of a span as `,"key":value` pairs, kept in its extensions.
#[derive(Debug, Default)]
pub(crate) struct SpanFields(Vec<u8>);

impl SpanFields {
    pub(crate) fn new(attrs: &Attributes<'_>, limit: usize) -> Self {
        let mut fields = Self::default();
        fields.record(attrs.values(), limit);
        fields
    }

    pub(crate) fn record_values(&mut self, values: &Record<'_>, limit: usize) {
        let mut visitor = FieldVisitor {
            out: &mut self.0,
            limit,
            reserved: Keys::Span,
        };
        values.record(&mut visitor);
    }

    fn record(&mut self, values: &tracing::field::ValueSet<'_>, limit: usize) {
        let mut visitor = FieldVisitor {
            out: &mut self.0,
            limit,
            reserved: Keys::Span,
        };
        values.record(&mut visitor);
    }
}

/// Appends `,"span":{"name":..,<fields>}` for `span`.
pub(crate) fn write<'a, R: LookupSpan<'a>>(out: &mut Vec<u8>, span: &SpanRef<'a, R>, limit: usize) {
    out.extend_from_slice(b",\"span\":{\"name\":");
    super::escape::string(out, span.name(), limit);
    if let Some(fields) = span.extensions().get::<SpanFields>() {
        out.extend_from_slice(&fields.0);
    }
    out.push(b'}');
}
