//! [`JsonLayer`]: one JSON object per `tracing` event, one line each, with
//! the ids of the current OpenTelemetry span.
//!
//! ```
//! use o11y_log::JsonLayer;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(JsonLayer::new().with_writer(std::io::stderr).with_service("order-service"));
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!(order_id = 42, "order placed");
//! });
//! ```
//!
//! The line format and its guarantees are described on [`JsonLayer`].

use std::{cell::RefCell, io::Write as _};

use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::{Layer, fmt::MakeWriter, layer::Context, registry::LookupSpan};

use crate::clock::{self, Clock, SystemClock};

pub(crate) mod escape;
mod ids;
mod span_fields;
mod visit;

pub use escape::TRUNCATED;
pub use visit::{RESERVED, RESERVED_PREFIX};

use span_fields::SpanFields;
use visit::FieldVisitor;

/// The default of [`JsonLayer::with_max_value_len`]: 16 KiB.
pub const DEFAULT_MAX_VALUE_LEN: usize = 16 * 1024;

/// Buffers above this size are given back after the line is written.
const KEEP_BUFFER: usize = 64 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// A `tracing-subscriber` layer writing one JSON object per event, one line
/// each.
///
/// ```
/// use o11y_log::JsonLayer;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(JsonLayer::new().with_writer(std::io::stderr).with_service("order-service"));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(order_id = 42, "order placed");
/// });
/// ```
///
/// A line looks like this (wrapped here):
///
/// ```text
/// {"timestamp":"2026-01-02T03:04:05.000006Z","level":"INFO","target":"shop",
///  "service":"order-service","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",
///  "span_id":"00f067aa0ba902b7","correlation_id":"req-1",
///  "message":"order placed","order_id":42}
/// ```
///
/// Event fields sit at the top level. A field named like a key the layer
/// writes itself ([`RESERVED`]) is written as `field_<name>`
/// ([`RESERVED_PREFIX`]), so `trace_id` and friends are never overwritten.
/// Every line is valid JSON: strings are escaped, invalid UTF-8 is replaced,
/// values longer than [`JsonLayer::with_max_value_len`] are cut and end with
/// [`TRUNCATED`], and non-finite floats are written as strings.
///
/// `trace_id`, `span_id` and `correlation_id` come from
/// [`opentelemetry::Context::current()`]: the context o11y-http and o11y-queue
/// attach around handlers, and the one tracing-opentelemetry attaches when a
/// `tracing` span is entered. This works under the global dispatcher and under
/// a scoped one (`tracing::subscriber::with_default`).
///
/// With [`with_current_span(true)`](Self::with_current_span), a line also
/// gets `"span":{"name":..,<the span's fields>}` for the current `tracing`
/// span. Lines are built in a reused thread-local buffer: nothing is
/// allocated per event.
///
/// `W` makes the writer (any [`MakeWriter`]: `std::io::stdout`,
/// `std::io::stderr`, a `Mutex<File>`, [`NonBlocking`](crate::NonBlocking));
/// `C` is the [`Clock`].
#[derive(Debug)]
pub struct JsonLayer<W = fn() -> std::io::Stdout, C = SystemClock> {
    make_writer: W,
    clock: C,
    service: Option<Box<[u8]>>,
    current_span: bool,
    max_value_len: usize,
}

impl JsonLayer {
    /// A layer writing to standard output with the system clock.
    pub fn new() -> Self {
        Self {
            make_writer: std::io::stdout,
            clock: SystemClock,
            service: None,
            current_span: false,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }
}

impl Default for JsonLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<W, C> JsonLayer<W, C> {
    /// Writes lines to what `make_writer` makes.
    pub fn with_writer<W2>(self, make_writer: W2) -> JsonLayer<W2, C>
    where
        W2: for<'w> MakeWriter<'w> + 'static,
    {
        JsonLayer {
            make_writer,
            clock: self.clock,
            service: self.service,
            current_span: self.current_span,
            max_value_len: self.max_value_len,
        }
    }

    /// Takes timestamps from `clock` (a [`Clock`] or a `Fn() -> SystemTime`).
    pub fn with_clock<C2: Clock>(self, clock: C2) -> JsonLayer<W, C2> {
        JsonLayer {
            make_writer: self.make_writer,
            clock,
            service: self.service,
            current_span: self.current_span,
            max_value_len: self.max_value_len,
        }
    }

    /// Adds `"service":"<name>"` to every line.
    pub fn with_service(mut self, name: impl AsRef<str>) -> Self {
        let mut quoted = Vec::new();
        escape::string(&mut quoted, name.as_ref(), self.max_value_len);
        self.service = Some(quoted.into_boxed_slice());
        self
    }

    /// Adds `"span":{"name":..,<its fields>}` for the current `tracing` span
    /// (default `false`). A span field called `name` becomes `field_name`;
    /// fields recorded later (`Span::record`) come after the others.
    pub fn with_current_span(mut self, on: bool) -> Self {
        self.current_span = on;
        self
    }

    /// Cuts string and debug values (and the message) after `bytes` bytes,
    /// ending them with [`TRUNCATED`] (default [`DEFAULT_MAX_VALUE_LEN`]).
    pub fn with_max_value_len(mut self, bytes: usize) -> Self {
        self.max_value_len = bytes;
        self
    }

    /// The writer maker.
    pub fn writer(&self) -> &W {
        &self.make_writer
    }
}

impl<W, C: Clock> JsonLayer<W, C> {
    fn format<S>(&self, out: &mut Vec<u8>, event: &Event<'_>, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let meta = event.metadata();
        out.extend_from_slice(b"{\"timestamp\":");
        clock::rfc3339(out, self.clock.now());
        out.extend_from_slice(b",\"level\":\"");
        out.extend_from_slice(level(meta.level()));
        out.extend_from_slice(b"\",\"target\":");
        escape::string(out, meta.target(), self.max_value_len);
        if let Some(service) = &self.service {
            out.extend_from_slice(b",\"service\":");
            out.extend_from_slice(service);
        }
        ids::write(out);
        event.record(&mut FieldVisitor {
            out,
            limit: self.max_value_len,
            reserved: visit::Keys::Event,
        });
        if self.current_span {
            if let Some(span) = ctx.event_span(event) {
                span_fields::write(out, &span, self.max_value_len);
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

fn level(level: &Level) -> &'static [u8] {
    match *level {
        Level::TRACE => b"TRACE",
        Level::DEBUG => b"DEBUG",
        Level::INFO => b"INFO",
        Level::WARN => b"WARN",
        Level::ERROR => b"ERROR",
    }
}

impl<S, W, C> Layer<S> for JsonLayer<W, C>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
    C: Clock,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let (true, Some(span)) = (self.current_span, ctx.span(id)) {
            let fields = SpanFields::new(attrs, self.max_value_len);
            // `replace`, not `insert`: another JsonLayer on the same registry
            // may have stored the same fields already.
            span.extensions_mut().replace(fields);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let (true, Some(span)) = (self.current_span, ctx.span(id)) {
            if let Some(fields) = span.extensions_mut().get_mut::<SpanFields>() {
                fields.record_values(values, self.max_value_len);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let write = |out: &mut Vec<u8>| {
            out.clear();
            self.format(out, event, &ctx);
            let mut writer = self.make_writer.make_writer_for(event.metadata());
            // A log line that cannot be written is dropped: logging must not fail the caller.
            let _ = writer.write_all(out);
        };
        BUFFER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut out) => {
                write(&mut out);
                if out.capacity() > KEEP_BUFFER {
                    *out = Vec::with_capacity(1024);
                }
            }
            // Re-entered (the writer logged): use a buffer of its own.
            Err(_) => write(&mut Vec::new()),
        });
    }
}
