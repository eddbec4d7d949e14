//! Functions invoked with an event (AWS Lambda, Cloud Functions, a local
//! stand-in): the invocation as a span that continues the trace whose
//! context the event's headers (or message attributes) carry.
//!
//! ```
//! use std::collections::HashMap;
//! use o11y_core::faas::{Function, Trigger};
//! use opentelemetry::{Context, trace::TraceContextExt};
//!
//! # async fn run() {
//! let function = Function::new("order-validator");
//! let headers = HashMap::from([(
//!     "traceparent".to_owned(),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
//! )]);
//! let valid = function
//!     .invoke(Trigger::Http, "POST /validate", "req-1", &headers, async {
//!         // The invocation's span is current: record the outcome on it.
//!         let trace = Context::current().span().span_context().trace_id();
//!         trace.to_string() == "4bf92f3577b34da6a3ce929d0e0e4736"
//!     })
//!     .await;
//! assert!(valid);
//! # }
//! ```
//!
//! Header names are matched without regard to case (API Gateway passes them
//! as the client wrote them). The handler runs with the span current, so
//! its logs carry the trace and its outbound calls continue it; it records
//! its own outcome (`http.response.status_code`, an error status) on
//! `Context::current().span()`.

use std::{borrow::Cow, collections::HashMap, future::Future, sync::Arc};

use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    context::FutureExt as _,
    global::{BoxedTracer, ObjectSafeTracerProvider},
    propagation::TextMapPropagator,
    trace::{SpanKind, TraceContextExt as _, Tracer as _, TracerProvider},
};
use opentelemetry_semantic_conventions::attribute::{FAAS_INVOCATION_ID, FAAS_NAME, FAAS_TRIGGER};

use crate::propagation::{AnyCase, Propagator, mark_random_trace_id};

/// The instrumentation scope of invocation spans.
pub const SCOPE: &str = "o11y-faas";

/// What invoked the function (`faas.trigger`), which also sets the span's
/// kind: CONSUMER for a message, SERVER otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// An HTTP request (API Gateway, a function URL).
    Http,
    /// A message (SQS, SNS, Pub/Sub).
    PubSub,
    /// A change in a data source (S3, DynamoDB streams).
    Datasource,
    /// A schedule.
    Timer,
    /// Anything else.
    Other,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::PubSub => "pubsub",
            Self::Datasource => "datasource",
            Self::Timer => "timer",
            Self::Other => "other",
        }
    }

    fn kind(self) -> SpanKind {
        match self {
            Self::PubSub => SpanKind::Consumer,
            _ => SpanKind::Server,
        }
    }
}

/// A function whose invocations are traced. Cheap to clone.
#[derive(Clone)]
pub struct Function {
    name: Arc<str>,
    tracer: Arc<BoxedTracer>,
    propagator: Option<Propagator>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// The function `name` (`faas.name`), traced with the global tracer
    /// provider and the propagator `init` installed.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        let provider = opentelemetry::global::tracer_provider();
        Self {
            name: name.into(),
            tracer: Arc::new(tracer_of(&provider)),
            propagator: None,
        }
    }

    /// Makes spans with `provider` instead of the global one.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider + ObjectSafeTracerProvider,
    {
        self.tracer = Arc::new(tracer_of(provider));
        self
    }

    /// The tracer provider and propagator of `guard` (telemetry built with
    /// [`Builder::build`](crate::Builder::build), not installed globally).
    pub fn guard(mut self, guard: &crate::Guard) -> Self {
        if let Some(provider) = guard.tracer_provider() {
            self = self.tracer_provider(&provider);
        }
        if let Some(propagator) = guard.propagator() {
            self.propagator = Some(propagator);
        }
        self
    }

    /// Runs `handler` for one invocation, inside a span named `span_name`
    /// that continues the context `headers` carry (a new trace when they
    /// carry none or an invalid one), and returns what it returns.
    pub async fn invoke<F: Future>(
        &self,
        trigger: Trigger,
        span_name: impl Into<Cow<'static, str>>,
        invocation_id: &str,
        headers: &HashMap<String, String>,
        handler: F,
    ) -> F::Output {
        let propagator = self
            .propagator
            .as_ref()
            .unwrap_or_else(|| Propagator::global());
        let parent = propagator.extract_with_context(&Context::new(), &AnyCase(headers));
        let attributes = vec![
            KeyValue::new(FAAS_TRIGGER, trigger.as_str()),
            KeyValue::new(FAAS_NAME, self.name.to_string()),
            KeyValue::new(FAAS_INVOCATION_ID, invocation_id.to_owned()),
        ];
        let span = self
            .tracer
            .span_builder(span_name)
            .with_kind(trigger.kind())
            .with_attributes(attributes)
            .start_with_context(&*self.tracer, &parent);
        let mut cx = parent.with_span(span);
        if !parent.span().span_context().is_valid() {
            cx = mark_random_trace_id(&cx);
        }
        let output = handler.with_context(cx.clone()).await;
        cx.span().end();
        output
    }
}

fn tracer_of<P: ObjectSafeTracerProvider + ?Sized>(provider: &P) -> BoxedTracer {
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    BoxedTracer::new(provider.boxed_tracer(scope))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceId};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;

    const TID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn traced() -> (Function, InMemorySpanExporter) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        (
            Function::new("validator").tracer_provider(&provider),
            exporter,
        )
    }

    /// A minimal executor: the futures here never wait on anything.
    fn block_on<F: Future>(f: F) -> F::Output {
        use std::task::{Context as TaskContext, Poll, Waker};
        let mut f = std::pin::pin!(f);
        let mut cx = TaskContext::from_waker(Waker::noop());
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the test future waited"),
        }
    }

    #[test]
    fn an_invocation_continues_the_events_trace_in_any_header_case() {
        let (function, exporter) = traced();
        let headers = HashMap::from([(
            "TraceParent".to_owned(),
            format!("00-{TID}-00f067aa0ba902b7-01"),
        )]);
        let seen =
            block_on(
                function.invoke(Trigger::PubSub, "process orders", "m-1", &headers, async {
                    Context::current().span().span_context().trace_id()
                }),
            );
        assert_eq!(seen.to_string(), TID, "the handler runs in the span");
        let spans = exporter.get_finished_spans().unwrap();
        let span = &spans[0];
        assert_eq!(span.span_context.trace_id().to_string(), TID);
        assert_eq!(
            span.parent_span_id,
            SpanId::from_hex("00f067aa0ba902b7").unwrap()
        );
        assert_eq!(span.span_kind, SpanKind::Consumer);
        let attr = |k: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == k)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attr(FAAS_TRIGGER).as_deref(), Some("pubsub"));
        assert_eq!(attr(FAAS_NAME).as_deref(), Some("validator"));
        assert_eq!(attr(FAAS_INVOCATION_ID).as_deref(), Some("m-1"));
    }

    #[test]
    fn an_event_without_context_starts_a_random_trace() {
        let (function, exporter) = traced();
        let headers = HashMap::from([("traceparent".to_owned(), "garbage".to_owned())]);
        let flags = block_on(
            function.invoke(Trigger::Http, "POST /v", "r-1", &headers, async {
                crate::propagation::traceparent_of(&Context::current()).map(|tp| tp.flags().to_u8())
            }),
        );
        assert_eq!(flags, Some(0x03));
        let spans = exporter.get_finished_spans().unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
        assert_ne!(spans[0].span_context.trace_id(), TraceId::INVALID);
        assert_eq!(spans[0].span_kind, SpanKind::Server);
    }
}
