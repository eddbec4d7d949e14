//! What a layer traces and measures with: a tracer, instruments and a
//! propagator, each given by the user or taken from the global ones at the
//! first request (so a layer made before `o11y::init` uses what it installs,
//! and making a layer changes nothing global).

use std::sync::{Arc, OnceLock};

use o11y_core::propagation::Propagator;
use opentelemetry::{
    Context,
    global::BoxedTracer,
    trace::{SpanBuilder, TraceContextExt, Tracer, TracerProvider},
};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::metrics;

/// A value the user gave, or one made by `global` at first use.
#[derive(Clone)]
pub(crate) struct OrGlobal<T> {
    value: OnceLock<T>,
    global: fn() -> T,
}

impl<T> OrGlobal<T> {
    pub(crate) fn global(global: fn() -> T) -> Self {
        Self {
            value: OnceLock::new(),
            global,
        }
    }

    pub(crate) fn set(&mut self, value: T) {
        self.value = OnceLock::from(value);
    }

    pub(crate) fn get(&self) -> &T {
        self.value.get_or_init(self.global)
    }
}

/// The telemetry a layer uses.
#[derive(Clone)]
pub(crate) struct Telemetry<M> {
    pub(crate) tracer: OrGlobal<AnyTracer>,
    pub(crate) metrics: OrGlobal<M>,
    propagator: Option<Propagator>,
}

impl<M> Telemetry<M> {
    pub(crate) fn global(metrics: fn() -> M) -> Self {
        Self {
            tracer: OrGlobal::global(AnyTracer::global),
            metrics: OrGlobal::global(metrics),
            propagator: None,
        }
    }

    /// The propagator given, else the one `o11y::init` installed.
    pub(crate) fn propagator(&self) -> &Propagator {
        self.propagator
            .as_ref()
            .unwrap_or_else(|| Propagator::global())
    }

    pub(crate) fn set_propagator(&mut self, propagator: Propagator) {
        self.propagator = Some(propagator);
    }

    pub(crate) fn set_tracer_provider<P>(&mut self, provider: &P)
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        self.tracer.set(AnyTracer::from_provider(provider));
    }

    /// The guard's providers and propagator (a guard with telemetry
    /// disabled or shut down leaves the global ones).
    pub(crate) fn set_guard(
        &mut self,
        guard: &o11y_core::Guard,
        metrics: impl FnOnce(&opentelemetry::metrics::Meter) -> M,
    ) {
        if let Some(provider) = guard.tracer_provider() {
            self.set_tracer_provider(&provider);
        }
        if let Some(provider) = guard.meter_provider() {
            self.metrics.set(metrics(&metrics::meter(&provider)));
        }
        if let Some(propagator) = guard.propagator() {
            self.set_propagator(propagator);
        }
    }
}

/// A tracer of either kind: the SDK's own is used unboxed.
#[derive(Clone)]
pub(crate) enum AnyTracer {
    Sdk(SdkTracer),
    Boxed(Arc<BoxedTracer>),
}

impl AnyTracer {
    /// The tracer provider `o11y::init` installed, else the global one.
    fn global() -> Self {
        match o11y_core::installed_tracer_provider() {
            Some(sdk) => Self::Sdk(sdk.tracer_with_scope(metrics::scope())),
            None => Self::Boxed(Arc::new(opentelemetry::global::tracer_with_scope(
                metrics::scope(),
            ))),
        }
    }

    fn from_provider<P>(provider: &P) -> Self
    where
        P: TracerProvider + 'static,
        P::Tracer: Send + Sync + 'static,
        <P::Tracer as Tracer>::Span: Send + Sync + 'static,
    {
        match (provider as &dyn std::any::Any).downcast_ref::<SdkTracerProvider>() {
            Some(sdk) => Self::Sdk(sdk.tracer_with_scope(metrics::scope())),
            None => {
                let tracer = provider.tracer_with_scope(metrics::scope());
                Self::Boxed(Arc::new(BoxedTracer::new(Box::new(tracer))))
            }
        }
    }

    /// Starts the span `builder` describes as a child of `parent`; returns
    /// the context holding it.
    pub(crate) fn start(&self, builder: SpanBuilder, parent: &Context) -> Context {
        match self {
            Self::Sdk(t) => parent.with_span(builder.start_with_context(t, parent)),
            Self::Boxed(t) => parent.with_span(builder.start_with_context(&**t, parent)),
        }
    }
}
