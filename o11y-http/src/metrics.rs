//! HTTP metrics: request duration histograms with the semantic-convention
//! bucket boundaries, and the active request count.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicI64, Ordering},
};

use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter, ObservableUpDownCounter},
};

use crate::semconv as sc;

/// The methods `semconv::method` can return, in slot order.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "_OTHER",
];
const SCHEMES: [&str; 2] = ["http", "https"];
const SLOTS: usize = METHODS.len() * SCHEMES.len();

/// In-flight requests per (method, scheme), kept in atomics and reported by
/// an observable up-down counter: a request costs two atomic additions
/// instead of two attribute-set lookups in the SDK.
#[derive(Debug, Default)]
pub(crate) struct Active {
    counts: [AtomicI64; SLOTS],
    seen: [AtomicBool; SLOTS],
}

impl Active {
    /// The slot of a (method, scheme) pair, as given by `semconv`.
    pub(crate) fn slot(method: &str, scheme: &str) -> usize {
        let m = METHODS
            .iter()
            .position(|x| *x == method)
            .unwrap_or(METHODS.len() - 1);
        let s = usize::from(scheme == "https");
        m * SCHEMES.len() + s
    }

    pub(crate) fn add(&self, slot: usize, delta: i64) {
        if let (Some(count), Some(seen)) = (self.counts.get(slot), self.seen.get(slot)) {
            count.fetch_add(delta, Ordering::Relaxed);
            seen.store(true, Ordering::Relaxed);
        }
    }

    /// Counts one request in `slot` until the returned guard is dropped,
    /// whether the request finished or was cancelled.
    pub(crate) fn enter(self: &Arc<Self>, slot: usize) -> InFlight {
        self.add(slot, 1);
        InFlight {
            active: self.clone(),
            slot,
        }
    }

    fn observe(&self, observer: &dyn opentelemetry::metrics::AsyncInstrument<i64>) {
        for (slot, (count, seen)) in self.counts.iter().zip(&self.seen).enumerate() {
            if seen.load(Ordering::Relaxed) {
                let (m, s) = (slot / SCHEMES.len(), slot % SCHEMES.len());
                let attrs = [
                    KeyValue::new(
                        sc::HTTP_REQUEST_METHOD,
                        METHODS.get(m).copied().unwrap_or("_OTHER"),
                    ),
                    KeyValue::new(sc::URL_SCHEME, SCHEMES.get(s).copied().unwrap_or("http")),
                ];
                observer.observe(count.load(Ordering::Relaxed), &attrs);
            }
        }
    }
}

/// Bucket boundaries (seconds) the HTTP semantic conventions recommend.
pub(crate) const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// One in-flight request; leaving (drop) takes it off the count.
#[derive(Debug)]
pub(crate) struct InFlight {
    active: Arc<Active>,
    slot: usize,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.active.add(self.slot, -1);
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    pub(crate) duration: Histogram<f64>,
    pub(crate) request_size: Histogram<u64>,
    pub(crate) response_size: Histogram<u64>,
    pub(crate) active: Arc<Active>,
    _active_instrument: ObservableUpDownCounter<i64>,
}

impl ServerMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        let active = Arc::new(Active::default());
        Self {
            duration: meter
                .f64_histogram("http.server.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP server requests.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            request_size: meter
                .u64_histogram("http.server.request.body.size")
                .with_unit("By")
                .with_description("Size of HTTP server request bodies.")
                .build(),
            response_size: meter
                .u64_histogram("http.server.response.body.size")
                .with_unit("By")
                .with_description("Size of HTTP server response bodies.")
                .build(),
            active: active.clone(),
            _active_instrument: meter
                .i64_observable_up_down_counter("http.server.active_requests")
                .with_unit("{request}")
                .with_description("Number of active HTTP server requests.")
                .with_callback(move |observer| active.observe(observer))
                .build(),
        }
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
                .f64_histogram("http.client.request.duration")
                .with_unit("s")
                .with_description("Duration of HTTP client requests.")
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
        }
    }
}
