//! Paths used by the code that `#[o11y::main]` and `#[o11y::traced]` generate.
//!
//! Not public API: anything here may change in any release. Generated code
//! names only `::o11y::__private::...`, so a service needs no other dependency
//! for the macros (`#[o11y::main]` also uses the service's own `tokio`).

use std::{
    borrow::Cow,
    fmt::{Debug, Display},
    sync::OnceLock,
};

pub use opentelemetry;
pub use opentelemetry::{
    Context, ContextGuard, KeyValue, Value, context::FutureExt, trace::SpanKind,
};
use opentelemetry::{
    global,
    trace::{Status, TraceContextExt, Tracer},
};
pub use tracing;

use crate::{Builder, Guard};

/// The instrumentation scope of every `#[traced]` span.
const SCOPE: &str = "o11y";

/// Installs telemetry for `#[o11y::main]`. When it cannot start, the
/// service runs on without it, its logs still written (the reason is logged
/// once at ERROR; printed to standard error when no subscriber could be
/// installed either): observability must never be the reason a service does
/// not start, nor run blind.
pub fn start_main(builder: Builder) -> Option<Guard> {
    let (guard, error) = builder.init_with_fallback();
    match (&guard, error) {
        (_, None) => {}
        (Some(_), Some(error)) => {
            tracing::error!(target: "o11y", %error, "telemetry is off; logs go on without export");
        }
        (None, Some(error)) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("o11y: telemetry is off: {error}");
            }
        }
    }
    guard
}

/// The deadline `#[o11y::main]` stops within: the guard's shutdown timeout.
#[cfg(feature = "macros")]
pub fn shutdown_timeout(guard: &Option<Guard>) -> std::time::Duration {
    guard
        .as_ref()
        .map_or(std::time::Duration::from_secs(5), Guard::shutdown_timeout)
}

/// `#[o11y::main]`'s runtime. Its shutdown waits for blocking tasks a
/// bounded time on every way out: [`MainRuntime::shutdown`] after the body,
/// and a quarter of the shutdown timeout when dropped by a panic (a plain
/// drop would wait for them without limit).
#[cfg(feature = "macros")]
#[derive(Debug)]
pub struct MainRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    timeout: std::time::Duration,
}

#[cfg(feature = "macros")]
impl MainRuntime {
    /// Wraps the runtime the service's own `tokio` built.
    pub fn new(runtime: tokio::runtime::Runtime, timeout: std::time::Duration) -> Self {
        Self {
            runtime: Some(runtime),
            timeout,
        }
    }

    /// Runs `future` to completion on the runtime.
    #[allow(clippy::expect_used)]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        // Only `shutdown` (which takes `self`) and `drop` take it out.
        self.runtime
            .as_ref()
            .expect("the runtime is there until shutdown")
            .block_on(future)
    }

    /// Shuts the runtime down, waiting at most `timeout` for blocking tasks.
    pub fn shutdown(mut self, timeout: std::time::Duration) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(timeout);
        }
    }
}

#[cfg(feature = "macros")]
impl Drop for MainRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(self.timeout / 4);
        }
    }
}

/// How `#[o11y::main]`'s body ended, and the deadline of the stop that follows.
#[cfg(feature = "macros")]
#[derive(Debug)]
pub struct Ended<R> {
    /// The body's output, or the exit status when a signal stopped it.
    out: Result<R, i32>,
    deadline: std::time::Instant,
}

/// Runs `#[o11y::main]`'s body until it returns or a stop signal arrives.
///
/// One deadline, `timeout` long, starts when the body returns or the signal
/// arrives. After a signal, the body has the first half of it to return on
/// its own (a service stopping gracefully on [`crate::shutdown_signal`]);
/// then it is dropped. The runtime's shutdown and the telemetry flush share
/// what is left ([`Ended::runtime_timeout`], [`Ended::finish`]).
#[cfg(feature = "macros")]
pub async fn run_main<R>(body: impl Future<Output = R>, timeout: std::time::Duration) -> Ended<R> {
    let mut signals = crate::Signals::new();
    let mut body = std::pin::pin!(body);
    let number = tokio::select! {
        biased;
        out = &mut body => return Ended::new(Ok(out), timeout),
        number = signals.recv() => number,
    };
    let ended = Ended::new(Err(128 + number), timeout);
    tracing::info!(target: "o11y", signal = number, "stop signal received; stopping");
    match tokio::time::timeout(timeout / 2, body).await {
        Ok(out) => Ended {
            out: Ok(out),
            ..ended
        },
        Err(_) => {
            tracing::warn!(
                target: "o11y",
                waited = ?(timeout / 2),
                "the service did not return after the stop signal; exiting"
            );
            ended
        }
    }
}

#[cfg(feature = "macros")]
impl<R> Ended<R> {
    fn new(out: Result<R, i32>, timeout: std::time::Duration) -> Self {
        let now = std::time::Instant::now();
        // A timeout too large to add (`shutdown_timeout_ms` near `u64::MAX`)
        // means no deadline worth the name: about 136 years.
        let deadline = now
            .checked_add(timeout)
            .or_else(|| now.checked_add(std::time::Duration::from_secs(u64::from(u32::MAX))))
            .unwrap_or(now);
        Self { out, deadline }
    }

    fn left(&self) -> std::time::Duration {
        self.deadline
            .saturating_duration_since(std::time::Instant::now())
    }

    /// How long the runtime's shutdown may wait for blocking tasks: a
    /// quarter of what is left, the rest is the telemetry flush's.
    pub fn runtime_timeout(&self) -> std::time::Duration {
        self.left() / 4
    }

    /// Shuts telemetry down within what is left of the deadline, then returns
    /// the body's output, or exits with `128 + signal` when the body was
    /// stopped by the signal.
    pub fn finish(self, guard: Option<Guard>) -> R {
        if let Some(Err(error)) = guard.map(|g| g.shutdown_within(self.left())) {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("o11y: {error}");
            }
        }
        match self.out {
            Ok(out) => out,
            Err(status) => std::process::exit(status),
        }
    }
}

/// Calls `f` once. Passing the body as a `FnOnce` lets it return borrows of
/// what it captured (`&mut self.field`), as the function itself could.
#[inline]
pub fn call_once<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The span of one `#[traced]` call: started from the global tracer provider
/// with `Context::current()` as parent, ended on drop (with status ERROR when
/// dropped by a panic).
#[derive(Debug)]
pub struct TracedSpan {
    cx: Context,
}

impl TracedSpan {
    /// Starts the span; `attributes` are given to the sampler.
    #[inline(always)]
    pub fn start(
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Self {
        let tracer = global::tracer(SCOPE);
        // One chain: a `SpanBuilder` is large, and each rebinding copies it.
        // `start` borrows the current context as the parent; only the
        // context holding the span is a clone.
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start(&tracer);
        Self {
            cx: Context::current_with_span(span),
        }
    }

    /// Makes the span current on this thread until the guard drops.
    #[inline]
    pub fn enter(&self) -> ContextGuard {
        self.cx.clone().attach()
    }

    /// The context holding the span, for `FutureExt::with_context`.
    #[inline]
    pub fn context(&self) -> Context {
        self.cx.clone()
    }

    /// Status ERROR, `error.type`, and an `exception` event.
    #[inline]
    pub fn record_error(&self, type_name: &'static str, message: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("error.type", type_name));
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", type_name),
                KeyValue::new("exception.message", message.clone()),
            ],
        );
        span.set_status(Status::error(message));
    }
}

impl Drop for TracedSpan {
    #[inline(always)]
    fn drop(&mut self) {
        let span = self.cx.span();
        if std::thread::panicking() {
            span.set_status(Status::error("panicked"));
        }
        span.end();
    }
}

/// Caches the span name `Type::method` of one method.
#[derive(Debug)]
pub struct MethodName(OnceLock<(&'static str, &'static str)>);

impl MethodName {
    /// An empty cache, for a `static`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// `Type::method`, where `type_name` is `std::any::type_name::<Self>()`.
    /// The first type seen is cached; a generic method called on another
    /// type builds its name again.
    pub fn get(&'static self, type_name: &'static str, method: &'static str) -> Cow<'static, str> {
        if let Some((ty, name)) = self.0.get() {
            if *ty == type_name {
                return Cow::Borrowed(name);
            }
            return Cow::Owned(method_name(type_name, method));
        }
        let name = self
            .0
            .get_or_init(|| (type_name, Box::leak(method_name(type_name, method).into())));
        if name.0 == type_name {
            Cow::Borrowed(name.1)
        } else {
            Cow::Owned(method_name(type_name, method))
        }
    }
}

/// `a::b::Wrapper<c::D>` and `method` make `Wrapper::method`.
fn method_name(type_name: &str, method: &str) -> String {
    let base = type_name.split('<').next().unwrap_or(type_name);
    let short = base.rsplit("::").next().unwrap_or(base);
    format!("{short}::{method}")
}

/// An argument or field value on its way to becoming an attribute.
#[derive(Debug)]
pub struct ArgValue<'a, T: ?Sized>(pub &'a T);

/// Types recorded as native OpenTelemetry values (numbers, booleans, text).
pub trait NativeValue {
    /// The attribute value.
    fn native_value(&self) -> Value;
}

macro_rules! native_int {
    ($($t:ty),*) => {$(
        impl NativeValue for $t {
            #[inline]
            fn native_value(&self) -> Value {
                Value::I64(i64::from(*self))
            }
        }
    )*};
}
native_int!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! native_wide_int {
    ($($t:ty),*) => {$(
        impl NativeValue for $t {
            #[inline]
            fn native_value(&self) -> Value {
                match i64::try_from(*self) {
                    Ok(n) => Value::I64(n),
                    Err(_) => as_text(self),
                }
            }
        }
    )*};
}
native_wide_int!(isize, u64, usize, i128, u128);

/// Integers too wide for an `i64` attribute are recorded as text.
#[cold]
fn as_text(n: &dyn Display) -> Value {
    Value::from(n.to_string())
}

impl NativeValue for f64 {
    #[inline]
    fn native_value(&self) -> Value {
        Value::F64(*self)
    }
}

impl NativeValue for f32 {
    #[inline]
    fn native_value(&self) -> Value {
        Value::F64(f64::from(*self))
    }
}

impl NativeValue for bool {
    #[inline]
    fn native_value(&self) -> Value {
        Value::Bool(*self)
    }
}

impl NativeValue for str {
    #[inline]
    fn native_value(&self) -> Value {
        Value::from(bounded_str(self))
    }
}

impl NativeValue for String {
    #[inline]
    fn native_value(&self) -> Value {
        Value::from(bounded_str(self))
    }
}

impl NativeValue for char {
    #[inline]
    fn native_value(&self) -> Value {
        Value::from(self.to_string())
    }
}

impl NativeValue for Cow<'_, str> {
    #[inline]
    fn native_value(&self) -> Value {
        Value::from(bounded_str(self))
    }
}

impl<T: NativeValue + ?Sized> NativeValue for &T {
    #[inline]
    fn native_value(&self) -> Value {
        (**self).native_value()
    }
}

impl<T: NativeValue + ?Sized> NativeValue for &mut T {
    #[inline]
    fn native_value(&self) -> Value {
        (**self).native_value()
    }
}

/// First choice for `(&ArgValue(&x)).o11y_value()`: a native value.
pub trait ViaNative {
    /// The attribute value.
    fn o11y_value(&self) -> Value;
}

impl<T: NativeValue + ?Sized> ViaNative for ArgValue<'_, T> {
    #[inline]
    fn o11y_value(&self) -> Value {
        self.0.native_value()
    }
}

/// Second choice: the `Debug` text.
pub trait ViaDebug {
    /// The attribute value.
    fn o11y_value(&self) -> Value;
}

impl<T: Debug + ?Sized> ViaDebug for &ArgValue<'_, T> {
    #[inline]
    fn o11y_value(&self) -> Value {
        Value::from(bounded_debug(self.0))
    }
}

/// The most bytes of text recorded for one `#[traced]` argument or field
/// (its `Debug` text, or a string); longer text is cut at a character
/// boundary and ends with `…`. Bounds what a span carries (a request body
/// passed by value, a large collection) whatever the argument.
pub const MAX_ARG_LEN: usize = 256;

/// `s`, cut to [`MAX_ARG_LEN`] bytes.
fn bounded_str(s: &str) -> String {
    if s.len() <= MAX_ARG_LEN {
        return s.to_owned();
    }
    let end = (0..=MAX_ARG_LEN)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    let mut out = String::with_capacity(end + 3);
    out.push_str(s.get(..end).unwrap_or_default());
    out.push('…');
    out
}

/// The `Debug` text of `value`, formatting stopped once past [`MAX_ARG_LEN`]
/// bytes (so a huge value is not formatted whole), then cut as [`bounded_str`].
fn bounded_debug(value: &(impl Debug + ?Sized)) -> String {
    /// Takes text until it holds more than the bound, then refuses more.
    struct Bounded(String);
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            // A few bytes past the bound, so that the cut is seen.
            let room = (MAX_ARG_LEN + 4).saturating_sub(self.0.len());
            if s.len() <= room {
                self.0.push_str(s);
                return Ok(());
            }
            let end = (0..=room)
                .rev()
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0);
            self.0.push_str(s.get(..end).unwrap_or_default());
            Err(std::fmt::Error)
        }
    }
    let mut out = Bounded(String::new());
    // An error here is the bound being reached (or the value's own `Debug`
    // failing): what was written so far is kept either way.
    let _ = std::fmt::write(&mut out, format_args!("{value:?}"));
    bounded_str(&out.0)
}

/// A function's return value, inspected by
/// `(&&&&Outcome(&ret)).o11y_record(&span)`: the first trait whose impl
/// applies wins (an `Err` with a `Display` error, then `Debug`, then any
/// `Err`, then anything else, which records nothing).
#[derive(Debug)]
pub struct Outcome<'a, T: ?Sized>(pub &'a T);

/// `Err(e)` with `e: Display`.
pub trait ErrDisplay {
    /// Records an error on `span`.
    fn o11y_record(&self, span: &TracedSpan);
}

impl<T, E: Display> ErrDisplay for &&&Outcome<'_, Result<T, E>> {
    #[inline]
    fn o11y_record(&self, span: &TracedSpan) {
        if let Err(e) = self.0 {
            span.record_error(std::any::type_name::<E>(), e.to_string());
        }
    }
}

/// `Err(e)` with `e: Debug`.
pub trait ErrDebug {
    /// Records an error on `span`.
    fn o11y_record(&self, span: &TracedSpan);
}

impl<T, E: Debug> ErrDebug for &&Outcome<'_, Result<T, E>> {
    #[inline]
    fn o11y_record(&self, span: &TracedSpan) {
        if let Err(e) = self.0 {
            span.record_error(std::any::type_name::<E>(), format!("{e:?}"));
        }
    }
}

/// Any other `Err(e)`: the message is the type name.
pub trait ErrAny {
    /// Records an error on `span`.
    fn o11y_record(&self, span: &TracedSpan);
}

impl<T, E> ErrAny for &Outcome<'_, Result<T, E>> {
    #[inline]
    fn o11y_record(&self, span: &TracedSpan) {
        if self.0.is_err() {
            let name = std::any::type_name::<E>();
            span.record_error(name, name.to_owned());
        }
    }
}

/// Not a `Result`: nothing to record.
pub trait NotResult {
    /// Records nothing.
    fn o11y_record(&self, span: &TracedSpan);
}

impl<T: ?Sized> NotResult for Outcome<'_, T> {
    #[inline(always)]
    fn o11y_record(&self, _span: &TracedSpan) {}
}

#[cfg(test)]
#[allow(clippy::needless_borrow)] // the borrows pick the impl, as in generated code
mod tests {
    use super::*;

    #[test]
    fn method_names_drop_paths_and_generics() {
        assert_eq!(method_name("a::b::Orders", "place"), "Orders::place");
        assert_eq!(
            method_name("a::Wrapper<alloc::string::String>", "get"),
            "Wrapper::get"
        );
        assert_eq!(method_name("u8", "f"), "u8::f");
    }

    #[test]
    fn method_name_cache_serves_the_first_type_and_rebuilds_others() {
        static CACHE: MethodName = MethodName::new();
        assert!(matches!(CACHE.get("a::A", "m"), Cow::Borrowed("A::m")));
        assert!(matches!(CACHE.get("a::A", "m"), Cow::Borrowed("A::m")));
        assert_eq!(CACHE.get("b::B<u8>", "m"), "B::m");
    }

    #[test]
    fn recorded_text_is_cut_at_the_bound_and_huge_values_are_not_formatted_whole() {
        let long = "é".repeat(1000);
        let Value::String(text) = (&ArgValue(&long.as_str())).o11y_value() else {
            panic!("a string")
        };
        assert!(text.as_str().len() <= MAX_ARG_LEN + '…'.len_utf8());
        assert!(text.as_str().starts_with("éé") && text.as_str().ends_with('…'));
        let Value::String(text) = (&ArgValue(&vec![7_u8; 100_000])).o11y_value() else {
            panic!("a string")
        };
        assert!(text.as_str().starts_with("[7, 7"));
        assert!(text.as_str().len() <= MAX_ARG_LEN + '…'.len_utf8());
        assert!(text.as_str().ends_with('…'));

        /// Counts how much of itself was asked for.
        struct Huge(std::cell::Cell<usize>);
        impl Debug for Huge {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                for _ in 0..1_000_000 {
                    self.0.set(self.0.get() + 1);
                    f.write_str("0123456789")?;
                }
                Ok(())
            }
        }
        let huge = Huge(std::cell::Cell::new(0));
        let _ = (&ArgValue(&huge)).o11y_value();
        assert!(
            huge.0.get() <= MAX_ARG_LEN / 10 + 2,
            "{} writes",
            huge.0.get()
        );
        // Short text is kept as it is.
        assert_eq!((&ArgValue(&"short")).o11y_value(), Value::from("short"));
        assert_eq!(bounded_debug(&Some(1)), "Some(1)");
        assert_eq!(
            bounded_str(&"x".repeat(MAX_ARG_LEN)),
            "x".repeat(MAX_ARG_LEN)
        );
    }

    #[test]
    fn values_are_native_when_possible_and_debug_otherwise() {
        #[derive(Debug)]
        struct Id(#[allow(dead_code)] u8);
        let text = "alice";
        let owned = String::from("bob");
        assert_eq!((&ArgValue(&42_u32)).o11y_value(), Value::I64(42));
        assert_eq!(
            (&ArgValue(&u64::MAX)).o11y_value(),
            Value::from(u64::MAX.to_string())
        );
        assert_eq!((&ArgValue(&true)).o11y_value(), Value::Bool(true));
        assert_eq!((&ArgValue(&text)).o11y_value(), Value::from("alice"));
        assert_eq!((&ArgValue(&&owned)).o11y_value(), Value::from("bob"));
        assert_eq!((&ArgValue(&1.5_f32)).o11y_value(), Value::F64(1.5));
        assert_eq!((&ArgValue(&Id(7))).o11y_value(), Value::from("Id(7)"));
        assert_eq!((&ArgValue(&Some(3))).o11y_value(), Value::from("Some(3)"));
    }
}
