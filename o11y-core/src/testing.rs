//! In-memory capture of finished spans, with helpers to assert a trace tree
//! and to print it. Feature `testing`.
//!
//! Several services in one process each get a provider from the same
//! [`Capture`], so every span knows which service made it.
//!
//! ```
//! use o11y_core::testing::Capture;
//! use opentelemetry::trace::{Tracer, TracerProvider, SpanKind, TraceContextExt};
//!
//! let capture = Capture::new();
//! let tracer = capture.provider("frontend").tracer("demo");
//! tracer.in_span("GET /", |cx| {
//!     let child = tracer.span_builder("SELECT users").with_kind(SpanKind::Client).start_with_context(&tracer, &cx);
//!     drop(child);
//! });
//! let spans = capture.spans();
//! spans.assert_single_trace();
//! spans.assert_parent("SELECT users", "GET /");
//! assert_eq!(spans.find("SELECT users").kind(), SpanKind::Client);
//! println!("{}", spans.render_tree());
//! ```

mod venv;

pub use venv::python_venv;

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use opentelemetry::{
    Key, KeyValue, Value,
    trace::{SpanId, SpanKind, Status, TraceId},
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SdkTracerProvider, SpanData, SpanProcessor},
};

/// Collects finished spans from any number of providers.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    shared: Arc<(Mutex<Vec<CapturedSpan>>, Condvar)>,
}

impl Capture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// A span processor feeding this capture; the service name comes from the
    /// provider's resource.
    pub fn processor(&self) -> CaptureProcessor {
        CaptureProcessor {
            capture: self.clone(),
            service: Arc::from("unknown_service"),
        }
    }

    /// A tracer provider for `service` that samples everything into this capture.
    pub fn provider(&self, service: &str) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_resource(
                Resource::builder_empty()
                    .with_service_name(service.to_owned())
                    .build(),
            )
            .with_span_processor(self.processor())
            .build()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<CapturedSpan>> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A snapshot of the finished spans, in the order they ended.
    pub fn spans(&self) -> Spans {
        Spans(self.lock().clone())
    }

    /// Forgets every span captured so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Waits until `done` holds for the captured spans (spans of a server end
    /// just after the response is written), or `timeout` passes. Returns the
    /// snapshot either way; assert on it.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&Spans) -> bool) -> Spans {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock();
        loop {
            let spans = Spans(guard.clone());
            let now = Instant::now();
            if done(&spans) || now >= deadline {
                return spans;
            }
            guard = match self.shared.1.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Waits until at least `n` spans have ended (at most 10 s).
    pub fn wait_for(&self, n: usize) -> Spans {
        self.wait_until(Duration::from_secs(10), |s| s.len() >= n)
    }
}

/// The [`SpanProcessor`] of a [`Capture`].
#[derive(Debug)]
pub struct CaptureProcessor {
    capture: Capture,
    service: Arc<str>,
}

impl SpanProcessor for CaptureProcessor {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, data: SpanData) {
        self.capture.lock().push(CapturedSpan {
            service: self.service.clone(),
            data,
        });
        self.capture.shared.1.notify_all();
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(name) = resource.get(&Key::from_static_str("service.name")) {
            self.service = Arc::from(name.as_str().as_ref());
        }
    }
}

/// One finished span and the service that made it.
#[derive(Clone, Debug)]
pub struct CapturedSpan {
    service: Arc<str>,
    /// The SDK's record of the span.
    pub data: SpanData,
}

impl CapturedSpan {
    /// The service (resource `service.name`).
    pub fn service(&self) -> &str {
        &self.service
    }
    /// The span name.
    pub fn name(&self) -> &str {
        &self.data.name
    }
    /// The span kind.
    pub fn kind(&self) -> SpanKind {
        self.data.span_kind.clone()
    }
    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.data.span_context.trace_id()
    }
    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.data.span_context.span_id()
    }
    /// The parent span id (`SpanId::INVALID` for a root).
    pub fn parent_id(&self) -> SpanId {
        self.data.parent_span_id
    }
    /// The status.
    pub fn status(&self) -> &Status {
        &self.data.status
    }
    /// Whether the status is an error.
    pub fn is_error(&self) -> bool {
        matches!(self.data.status, Status::Error { .. })
    }
    /// An attribute's value.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.data
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }
    /// An attribute's value as text (`None` when absent).
    pub fn attr_str(&self, key: &str) -> Option<String> {
        self.attr(key).map(|v| v.as_str().into_owned())
    }
    /// The names of the span's events.
    pub fn event_names(&self) -> Vec<&str> {
        self.data.events.iter().map(|e| e.name.as_ref()).collect()
    }
    /// The attributes of the first event named `name`.
    pub fn event(&self, name: &str) -> Option<&[KeyValue]> {
        self.data
            .events
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.attributes.as_slice())
    }
    /// How long the span lasted.
    pub fn duration(&self) -> Duration {
        self.data
            .end_time
            .duration_since(self.data.start_time)
            .unwrap_or_default()
    }
}

/// A snapshot of captured spans, with assertions that explain themselves.
#[derive(Clone, Debug, Default)]
pub struct Spans(pub Vec<CapturedSpan>);

impl std::ops::Deref for Spans {
    type Target = [CapturedSpan];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Spans {
    fn listing(&self) -> String {
        self.0
            .iter()
            .map(|s| {
                format!(
                    "  {} {:?} {} ({})",
                    s.service(),
                    s.kind(),
                    s.name(),
                    s.trace_id()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every span named `name`.
    pub fn named(&self, name: &str) -> Vec<&CapturedSpan> {
        self.0.iter().filter(|s| s.name() == name).collect()
    }

    /// The one span named `name`; panics with the list of spans otherwise.
    #[track_caller]
    #[allow(clippy::panic)]
    pub fn find(&self, name: &str) -> &CapturedSpan {
        match self.named(name).as_slice() {
            [one] => one,
            found => panic!(
                "expected one span named {name:?}, found {}; spans:\n{}",
                found.len(),
                self.listing()
            ),
        }
    }

    /// The distinct trace ids, in order of first appearance.
    pub fn trace_ids(&self) -> Vec<TraceId> {
        let mut ids: Vec<TraceId> = Vec::new();
        for s in &self.0 {
            if !ids.contains(&s.trace_id()) {
                ids.push(s.trace_id());
            }
        }
        ids
    }

    /// Asserts every span belongs to one trace, and returns its id.
    #[track_caller]
    #[allow(clippy::panic)]
    pub fn assert_single_trace(&self) -> TraceId {
        match self.trace_ids().as_slice() {
            [one] => *one,
            ids => panic!(
                "expected one trace, found {}; spans:\n{}",
                ids.len(),
                self.listing()
            ),
        }
    }

    /// Asserts the span named `child` is a child of the span named `parent`.
    #[track_caller]
    #[allow(clippy::panic)]
    pub fn assert_parent(&self, child: &str, parent: &str) {
        let (c, p) = (self.find(child), self.find(parent));
        if c.parent_id() != p.span_id() || c.trace_id() != p.trace_id() {
            panic!(
                "{child:?} is not a child of {parent:?}; spans:\n{}",
                self.listing()
            );
        }
    }

    /// The spans whose parent is `span`.
    pub fn children(&self, span: &CapturedSpan) -> Vec<&CapturedSpan> {
        let mut out: Vec<&CapturedSpan> = self
            .0
            .iter()
            .filter(|s| s.trace_id() == span.trace_id() && s.parent_id() == span.span_id())
            .collect();
        out.sort_by_key(|s| s.data.start_time);
        out
    }

    /// The spans whose parent was not captured (true roots, or children of a remote caller).
    pub fn roots(&self) -> Vec<&CapturedSpan> {
        let mut out: Vec<&CapturedSpan> = self
            .0
            .iter()
            .filter(|s| {
                !self
                    .0
                    .iter()
                    .any(|p| p.span_id() == s.parent_id() && p.trace_id() == s.trace_id())
            })
            .collect();
        out.sort_by_key(|s| s.data.start_time);
        out
    }

    /// Each trace as an indented tree: service, name, kind, duration, status.
    pub fn render_tree(&self) -> String {
        let mut out = String::new();
        for id in self.trace_ids() {
            out.push_str(&format!("trace {id}\n"));
            for root in self.roots().into_iter().filter(|r| r.trace_id() == id) {
                self.render(root, 1, &mut out);
            }
        }
        out
    }

    fn render(&self, span: &CapturedSpan, depth: usize, out: &mut String) {
        let status = match span.status() {
            Status::Unset => "unset".to_owned(),
            Status::Ok => "ok".to_owned(),
            Status::Error { description } if description.is_empty() => "ERROR".to_owned(),
            Status::Error { description } => format!("ERROR: {description}"),
        };
        let kind = format!("{:?}", span.kind()).to_uppercase();
        let micros = span.duration().as_micros();
        out.push_str(&format!(
            "{}{} {} [{kind}] {micros}us {status}\n",
            "  ".repeat(depth),
            span.service(),
            span.name()
        ));
        for child in self.children(span) {
            self.render(child, depth + 1, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Tracer, TracerProvider};

    use super::*;

    #[test]
    fn captures_service_parents_and_renders() {
        let capture = Capture::new();
        let front = capture.provider("front").tracer("t");
        let back = capture.provider("back").tracer("t");
        front.in_span("outer", |cx| {
            let _inner = back.start_with_context("inner", &cx);
        });
        let spans = capture.wait_for(2);
        assert_eq!(spans.len(), 2);
        spans.assert_single_trace();
        spans.assert_parent("inner", "outer");
        assert_eq!(spans.find("inner").service(), "back");
        assert_eq!(spans.find("outer").service(), "front");
        let tree = spans.render_tree();
        let lines: Vec<&str> = tree.lines().collect();
        assert!(lines[1].starts_with("  front outer [INTERNAL]"), "{tree}");
        assert!(lines[2].starts_with("    back inner [INTERNAL]"), "{tree}");
    }

    #[test]
    #[should_panic(expected = "expected one trace, found 2")]
    fn two_traces_fail_the_single_trace_assertion() {
        let capture = Capture::new();
        let tracer = capture.provider("svc").tracer("t");
        tracer.in_span("a", |_| {});
        tracer.in_span("b", |_| {});
        capture.spans().assert_single_trace();
    }

    #[test]
    #[should_panic(expected = "is not a child of")]
    fn siblings_fail_the_parent_assertion() {
        let capture = Capture::new();
        let tracer = capture.provider("svc").tracer("t");
        tracer.in_span("root", |cx| {
            let _a = tracer.start_with_context("a", &cx);
            let _b = tracer.start_with_context("b", &cx);
        });
        let spans = capture.spans();
        assert!(spans.find("a").parent_id() == spans.find("root").span_id());
        spans.assert_parent("b", "a");
    }
}
