//! What producers and consumers share: the tracer, the propagator and the
//! attributes every messaging span carries.

use std::{borrow::Cow, sync::Arc};

use o11y_core::propagation::Propagator;
use opentelemetry::{
    InstrumentationScope, KeyValue,
    global::{BoxedTracer, ObjectSafeTracerProvider},
    metrics::MeterProvider,
    propagation::TextMapPropagator,
    trace::TracerProvider,
};

use crate::{metrics::Metrics, semconv, transport::Transport};

/// The instrumentation scope name of every span this crate makes.
pub const SCOPE: &str = "o11y-queue";

/// Tracer, propagator and metric instruments, cheap to clone.
#[derive(Clone)]
pub(crate) struct Instrumentation {
    pub(crate) tracer: Arc<BoxedTracer>,
    pub(crate) propagator: Arc<dyn TextMapPropagator + Send + Sync>,
    pub(crate) metrics: Metrics,
}

impl std::fmt::Debug for Instrumentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instrumentation").finish_non_exhaustive()
    }
}

impl Default for Instrumentation {
    fn default() -> Self {
        let provider = opentelemetry::global::tracer_provider();
        Self {
            tracer: Arc::new(tracer_of(&provider)),
            propagator: Arc::new(Propagator::global().clone()),
            metrics: Metrics::default(),
        }
    }
}

impl Instrumentation {
    pub(crate) fn set_provider<P>(&mut self, provider: &P)
    where
        P: TracerProvider + ObjectSafeTracerProvider,
    {
        self.tracer = Arc::new(tracer_of(provider));
    }

    pub(crate) fn set_meter_provider(&mut self, provider: &impl MeterProvider) {
        self.metrics = Metrics::from_provider(provider);
    }

    pub(crate) fn set_propagator(&mut self, p: impl TextMapPropagator + Send + Sync + 'static) {
        self.propagator = Arc::new(p);
    }
}

fn tracer_of(provider: &dyn ObjectSafeTracerProvider) -> BoxedTracer {
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    BoxedTracer::new(provider.boxed_tracer(scope))
}

/// The attributes every span on `destination` carries.
pub(crate) fn base_attributes<T: Transport>(
    transport: &T,
    operation: &'static str,
    destination: &str,
) -> Vec<KeyValue> {
    let mut attrs = vec![
        KeyValue::new(semconv::MESSAGING_SYSTEM, transport.system()),
        KeyValue::new(semconv::MESSAGING_OPERATION_NAME, operation),
        KeyValue::new(semconv::MESSAGING_OPERATION_TYPE, operation),
        KeyValue::new(semconv::MESSAGING_DESTINATION_NAME, destination.to_owned()),
    ];
    if let Some((host, port)) = transport.server() {
        attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()));
        attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
    }
    attrs
}

/// `send {destination}` / `process {destination}`.
pub(crate) fn span_name(operation: &str, destination: &str) -> Cow<'static, str> {
    Cow::Owned(format!("{operation} {destination}"))
}
