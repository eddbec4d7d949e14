//! JSON logs that carry the trace: a `tracing-subscriber` layer writing one
//! JSON object per event with `trace_id`, `span_id` and the correlation id,
//! plus OTLP log export.
//!
//! Work in progress: [`install`] currently adds nothing.

/// Adds this crate's layers to an `o11y_core` builder.
pub fn install(builder: o11y_core::Builder) -> o11y_core::Builder {
    builder
}
