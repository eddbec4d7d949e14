//! The instruments: request durations with the semantic-convention bucket
//! boundaries, in-flight server requests, and body sizes.
//!
//! Instruments are plain SDK instruments. The SDK keeps one aggregation per
//! instrument name on a meter provider, so every layer using the same
//! provider adds to the same counts.

use opentelemetry::{
    InstrumentationScope,
    metrics::{Histogram, Meter, MeterProvider, UpDownCounter},
};

use crate::semconv as sc;

/// Bucket boundaries (seconds) the HTTP semantic conventions recommend.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The instrumentation scope of everything this crate records.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("o11y-http")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// `provider`'s meter for this crate.
pub(crate) fn meter(provider: &impl MeterProvider) -> Meter {
    provider.meter_with_scope(scope())
}

#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: UpDownCounter<i64>,
    pub(crate) request_size: Histogram<u64>,
    pub(crate) response_size: Histogram<u64>,
}

impl ServerMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram(sc::HTTP_SERVER_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            active: meter
                .i64_up_down_counter(sc::HTTP_SERVER_ACTIVE_REQUESTS)
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .build(),
            request_size: meter
                .u64_histogram(sc::HTTP_SERVER_REQUEST_BODY_SIZE)
                .with_unit("By")
                .with_description("Size of HTTP server request bodies.")
                .build(),
            response_size: meter
                .u64_histogram(sc::HTTP_SERVER_RESPONSE_BODY_SIZE)
                .with_unit("By")
                .with_description("Size of HTTP server response bodies.")
                .build(),
        }
    }

    /// The instruments of the global meter provider.
    pub(crate) fn global() -> Self {
        Self::new(&opentelemetry::global::meter_with_scope(scope()))
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ClientMetrics {
    pub(crate) duration: Histogram<f64>,
}

impl ClientMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram(sc::HTTP_CLIENT_REQUEST_DURATION)
                .with_unit("s")
                .with_description("Duration of HTTP client requests.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
        }
    }

    /// The instruments of the global meter provider.
    pub(crate) fn global() -> Self {
        Self::new(&opentelemetry::global::meter_with_scope(scope()))
    }
}
