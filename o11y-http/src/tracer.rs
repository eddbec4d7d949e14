//! The tracer the layers hold: the SDK's own when the provider is an
//! `SdkTracerProvider` (no boxing, no dynamic call per attribute), any other
//! tracer boxed.

use std::{any::Any, borrow::Cow, sync::Arc, time::SystemTime};

use o11y_core::{Presampler, presample::Ahead};
use opentelemetry::{
    Context, KeyValue,
    global::BoxedTracer,
    trace::{Link, Span, SpanBuilder, SpanKind, TraceContextExt, TraceId, Tracer, TracerProvider},
};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// A tracer of either kind.
#[derive(Clone)]
pub(crate) enum AnyTracer {
    /// With the provider's presampler when o11y built it (its sampler is
    /// then asked before the SDK builds a span it would drop).
    Sdk(SdkTracer, Option<Presampler>),
    Boxed(Arc<BoxedTracer>),
}

/// How a span started, which tells how it ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Started {
    /// Nothing is recorded: the context holds only the span's identity.
    NotRecording,
    /// Recorded from this wall time (the caller's instant): it ends at this
    /// time plus the duration the caller measures.
    At(SystemTime),
    /// Recorded on the SDK's clock: it ends on the SDK's clock too.
    SdkClock,
}

/// What a span is made of; the name and attributes are computed only when
/// the span is recorded (the attributes from the span's trace id).
pub(crate) struct SpanStart<'a, N, A> {
    pub(crate) kind: SpanKind,
    /// Used when the span is not recorded, or until it is named.
    pub(crate) short_name: &'static str,
    pub(crate) name: N,
    pub(crate) attributes: A,
    /// When the span started, when the caller has read the clock already.
    pub(crate) started: Option<crate::clock::Instant>,
    pub(crate) links: Vec<Link>,
    pub(crate) parent: &'a Context,
}

impl AnyTracer {
    /// The provider `o11y::init` installed, unboxed; otherwise the global
    /// tracer provider's tracer.
    pub(crate) fn global(scope: &'static str) -> Self {
        match o11y_core::installed_tracer() {
            Some((sdk, ahead)) => Self::Sdk(sdk.tracer(scope), ahead),
            None => Self::Boxed(Arc::new(opentelemetry::global::tracer(scope))),
        }
    }

    /// The tracer of `guard`'s provider, with its presampler (`None` when
    /// the guard has no provider: telemetry disabled, or shut down).
    pub(crate) fn from_guard(guard: &o11y_core::Guard, scope: &'static str) -> Option<Self> {
        let sdk = guard.tracer_provider()?;
        Some(Self::Sdk(sdk.tracer(scope), guard.presampler()))
    }

    /// `provider`'s tracer, unboxed when it is the SDK's.
    pub(crate) fn from_provider<P>(provider: &P, scope: &'static str) -> Self
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        match (provider as &dyn Any).downcast_ref::<SdkTracerProvider>() {
            Some(sdk) => Self::Sdk(sdk.tracer(scope), None),
            None => Self::Boxed(Arc::new(BoxedTracer::new(Box::new(provider.tracer(scope))))),
        }
    }

    /// Starts the span as a child of `start.parent` and returns the context
    /// holding it, and how it started.
    pub(crate) fn start<N, A>(&self, start: SpanStart<'_, N, A>) -> (Context, Started)
    where
        N: FnOnce() -> Option<Cow<'static, str>>,
        A: FnOnce(TraceId) -> Vec<KeyValue>,
    {
        match self {
            Self::Sdk(t, ahead) => start_with(t, ahead.as_ref(), start),
            Self::Boxed(t) => start_with(&**t, None, start),
        }
    }
}

fn start_with<T, N, A>(
    tracer: &T,
    ahead: Option<&Presampler>,
    start: SpanStart<'_, N, A>,
) -> (Context, Started)
where
    T: Tracer,
    T::Span: Send + Sync + 'static,
    N: FnOnce() -> Option<Cow<'static, str>>,
    A: FnOnce(TraceId) -> Vec<KeyValue>,
{
    let SpanStart {
        kind,
        short_name,
        name,
        attributes,
        started,
        links,
        parent,
    } = start;
    // A sampled remote parent is almost always followed: describe the span
    // up front, in one go. So is a span the provider's sampler is known to
    // record: when o11y built the provider, its sampler is asked first, and
    // a dropped span keeps only its identity, without the SDK building one.
    // Otherwise wait for the sampler's decision so that an unsampled request
    // pays for neither the name nor the attributes.
    let mut likely = {
        let span = parent.span();
        let sc = span.span_context();
        (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id())
    };
    if likely.is_none() {
        match ahead.and_then(|a| a.ahead(parent)) {
            Some(Ahead::Drop(identity)) => {
                return (
                    parent.with_remote_span_context(identity),
                    Started::NotRecording,
                );
            }
            Some(Ahead::Record(trace_id)) => likely = Some(trace_id),
            None => {}
        }
    }
    // Built in one go, not through the by-value `with_*` calls.
    let mut builder = SpanBuilder {
        span_kind: Some(kind),
        name: Cow::Borrowed(short_name),
        start_time: None,
        attributes: None,
        events: None,
        links: (!links.is_empty()).then_some(links),
    };
    let (mut name, mut attributes) = (Some(name), Some(attributes));
    let mut start_time = None;
    if let Some(trace_id) = likely {
        // The instant the caller read, in wall time. Otherwise the SDK reads
        // the clock itself, and only for a span it records.
        start_time = started.map(crate::clock::wall);
        builder.start_time = start_time;
        if let Some(n) = name.take().and_then(|f| f()) {
            builder.name = n;
        }
        builder.attributes = Some(attributes.take().map(|f| f(trace_id)).unwrap_or_default());
    }
    let mut span = tracer.build_with_context(builder, parent);
    if !span.is_recording() {
        // Nothing will be recorded: keep only its identity (what children and
        // injection need), not the span object behind a lock and a box.
        let identity = span.span_context().clone();
        drop(span);
        return (
            parent.with_remote_span_context(identity),
            Started::NotRecording,
        );
    }
    if let Some(n) = name.and_then(|f| f()) {
        span.update_name(n);
    }
    if let Some(attributes) = attributes {
        span.set_attributes(attributes(span.span_context().trace_id()));
    }
    let started = start_time.map_or(Started::SdkClock, Started::At);
    (parent.with_span(span), started)
}
