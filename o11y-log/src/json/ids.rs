//! The ids of the OpenTelemetry context current for an event.
//!
//! `opentelemetry::Context::current()` is the source of truth: o11y-http and
//! o11y-queue attach the context of their spans while a handler runs, and the
//! tracing-opentelemetry layer attaches a `tracing` span's context when it is
//! entered. Unlike `tracing::Span::current()`, this also works under a scoped
//! dispatcher.

use o11y_core::CorrelationContextExt;
use opentelemetry::{Context, trace::TraceContextExt};

use super::escape;

/// Appends `,"trace_id":..,"span_id":..` for a valid current span context and
/// `,"correlation_id":..` when the context has one (a stored id, or else the
/// trace id).
pub(crate) fn write(out: &mut Vec<u8>) {
    Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid() {
            out.extend_from_slice(b",\"trace_id\":\"");
            escape::hex(out, &sc.trace_id().to_bytes());
            out.extend_from_slice(b"\",\"span_id\":\"");
            escape::hex(out, &sc.span_id().to_bytes());
            out.push(b'"');
        }
        if let Some(id) = cx.correlation() {
            out.extend_from_slice(b",\"correlation_id\":");
            // Validated ids need no escaping, but escaping costs little.
            escape::string(out, id.as_str(), o11y_core::CORRELATION_ID_MAX_LEN);
        }
    });
}
