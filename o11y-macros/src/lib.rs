//! `#[o11y::main]` and `#[o11y::traced]`: telemetry for a whole service and
//! an OpenTelemetry span per function, without hand-written span code.
//!
//! Use them through the facade (`o11y = { features = ["macros"] }`): the
//! generated code names only `::o11y::...` paths (and, for `#[o11y::main]`,
//! the service's own `tokio`).
//!
//! ```no_run
//! #[o11y::traced(kind = client, skip(password))]
//! async fn login(user: &str, password: &str) -> Result<u64, std::io::Error> {
//!     // A CLIENT span named `<module path>::login`, attribute `user`, status ERROR on `Err`.
//!     Ok(user.len() as u64)
//! }
//!
//! #[o11y::main(flavor = "current_thread")]
//! async fn main() -> Result<(), std::io::Error> {
//!     login("alice", "secret").await?;
//!     Ok(())
//! } // telemetry is flushed here, also after a `?` error or a panic
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

use proc_macro::TokenStream;

mod attr;
mod entry;
mod traced;

/// Starts a service: installs telemetry, builds a `tokio` runtime, runs the
/// `async fn` body on it until it returns or SIGTERM or SIGINT (Ctrl-C)
/// arrives, and flushes telemetry on every way out.
///
/// The expansion calls [`o11y::builder`] (service name, optional settings),
/// `.init()`, then builds the runtime with the service's own `tokio` crate (as
/// `#[tokio::main]` does: add `tokio` with the `rt` feature, plus
/// `rt-multi-thread` for the default flavour). The guard is dropped after the
/// runtime, so spans of tasks still running when `main` returns are ended and
/// exported too. This happens on a normal return, on an `Err` (including one
/// from `?`) and while unwinding from a panic; `std::process::exit` skips it.
///
/// **Stopping.** One deadline, `shutdown_timeout_ms` long, starts when the
/// body returns or a stop signal arrives. After a signal the body has the
/// first half of it to return on its own (serve with
/// `.with_graceful_shutdown(o11y::shutdown_signal())`, stop consumers on the
/// same future); then it is dropped and the process exits with `128 +
/// signal` (143 for SIGTERM) after the flush. The runtime's shutdown waits for
/// blocking tasks a quarter of what is left at most (a quarter of the
/// timeout after a panic), and traces, metrics and logs are flushed together
/// within the rest.
///
/// If telemetry cannot start (for example a malformed `OTEL_*` variable), the
/// service runs without it, its `tracing` layers (the JSON logs) still
/// installed, and the reason logged once at ERROR (target `o11y`):
/// observability is never the reason a service does not start, nor runs
/// blind. Use [`o11y::init`] by hand to fail instead.
///
/// | option | value | default |
/// |---|---|---|
/// | `service` | expression for the service name | `env!("CARGO_PKG_NAME")` |
/// | `version` | expression for `service.version` | from `OTEL_RESOURCE_ATTRIBUTES` |
/// | `environment` | expression for `deployment.environment.name` | from `OTEL_RESOURCE_ATTRIBUTES` |
/// | `shutdown_timeout_ms` | integer, how long the flush may take | 5000 |
/// | `builder` | path of a `fn(o11y::Builder) -> o11y::Builder`, for any other setting | none |
/// | `flavor` | `"multi_thread"` or `"current_thread"` | `"multi_thread"` |
/// | `worker_threads` | integer (multi-thread only) | one per core |
///
/// ```no_run
/// fn settings(builder: o11y::Builder) -> o11y::Builder {
///     builder.install_subscriber(true)
/// }
///
/// #[o11y::main(service = "order-service", environment = "prod", builder = settings, worker_threads = 2)]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     tracing::info!("serving");
///     Ok(())
/// }
/// ```
///
/// [`o11y::builder`]: ../o11y/fn.builder.html
/// [`o11y::init`]: ../o11y/fn.init.html
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(args.into(), item.into()).into()
}

/// Wraps a function in an OpenTelemetry span.
///
/// The span is a native OpenTelemetry span from the global tracer provider
/// (instrumentation scope `o11y`); its parent is `Context::current()`. While
/// the body runs (every poll, for an `async fn`) the span's context is the
/// current one, so nested `#[traced]` calls, `tracing` spans bridged by
/// `tracing-opentelemetry`, and log events belong to it.
///
/// | option | meaning |
/// |---|---|
/// | `name = "..."` | the span name; default `module::path::function`, or `Type::method` for methods (a receiver or `Self` in the signature) |
/// | `kind = internal` | `internal` (default), `server`, `client`, `producer` or `consumer`; also as a string |
/// | `skip(a, b)` | arguments not to record |
/// | `skip_all` | record no argument |
/// | `fields(key = expr, ...)` | extra attributes, evaluated when the span starts; keys may be dotted (`user.id`) or strings |
///
/// **Arguments** are recorded as attributes named after them (`self` never
/// is; nor are destructuring patterns). Integers, floats, booleans, `str`,
/// `String`, `char` and references to them become native attribute values;
/// anything else is recorded with its `Debug` text, so an argument that is
/// not `Debug` must be skipped. Recorded text (a string or a `Debug` text)
/// is bounded: past 256 bytes it is cut at a character boundary and ends
/// with `…`, and a `Debug` text is not formatted further than that. Skip
/// arguments that hold secrets (`skip(password)`).
///
/// **Errors.** When the function returns `Err(e)` (any `Result`, including
/// aliases such as `io::Result`), the span gets status ERROR with the
/// error's `Display` text (`Debug` if it has no `Display`, else its type
/// name), the attribute `error.type` (the error's type name), and an
/// `exception` event with `exception.type` and `exception.message`. A panic
/// going through the function sets status ERROR `panicked`.
///
/// **Shapes.** Sync and `async fn`s, methods with any `self` receiver,
/// generics, `impl Trait` arguments and returns, trait methods with a body.
/// For `#[async_trait]` put `#[traced]` on the method inside the
/// `#[async_trait]` impl: the method then returns
/// `Pin<Box<dyn Future<Output = T> + ...>>` with a `Box::pin(async move {...})`
/// body, and the span covers the boxed future (any function of that shape is
/// handled the same way). Spans of `async` functions start on the first poll.
///
/// ```
/// use o11y::opentelemetry::trace::TraceContextExt;
///
/// struct Orders;
///
/// impl Orders {
///     #[o11y::traced(kind = server, fields(order.items = items.len()))]
///     fn place(&self, customer: &str, items: &[u32]) -> Result<u64, std::fmt::Error> {
///         // The span `Orders::place` is current here.
///         let _current = o11y::opentelemetry::Context::current();
///         Ok(items.iter().map(|&i| u64::from(i)).sum())
///     }
/// }
///
/// assert_eq!(Orders.place("alice", &[1, 2]), Ok(3));
/// ```
#[proc_macro_attribute]
pub fn traced(args: TokenStream, item: TokenStream) -> TokenStream {
    traced::expand(args.into(), item.into()).into()
}
