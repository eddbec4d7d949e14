//! HTTP metrics: request duration histograms with the semantic-convention
//! bucket boundaries, and the active request count.

use std::{
    cell::RefCell,
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{
        Arc, Mutex, PoisonError, RwLock, Weak,
        atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering},
    },
};

use opentelemetry::{
    KeyValue,
    metrics::{BoundHistogram, Histogram, Meter, ObservableGauge, ObservableUpDownCounter},
};

use crate::{intern::Words, semconv as sc};

/// The methods `semconv::method` can return, in slot order.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "_OTHER",
];
const SCHEMES: [&str; 2] = ["http", "https"];
const SLOTS: usize = METHODS.len() * SCHEMES.len();

/// Threads that write counts of their own (more threads share them).
pub(crate) const STRIPES: usize = 16;

/// In-flight requests per (method, scheme), kept in atomics and reported by
/// an observable up-down counter: a request costs two atomic additions
/// instead of two attribute-set lookups in the SDK. Each thread adds to
/// its own stripe of counts, so that threads serving requests on several
/// cores do not take one cache line from each other on every request; a
/// request may end on another thread than it started on, and only the sum
/// over the stripes is reported.
#[derive(Debug, Default)]
pub(crate) struct Active {
    stripes: [Stripe; STRIPES],
    seen: [AtomicBool; SLOTS],
}

/// One stripe of counts, on cache lines no other stripe uses.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe([AtomicI64; SLOTS]);

/// The calling thread's stripe of [`Active`]: given in turn as threads
/// first ask.
pub(crate) fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    STRIPE
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
            }
            s.get()
        })
        .unwrap_or(0)
}

/// The index of a method `semconv::method` returned in [`METHODS`].
pub(crate) fn method_slot(method: &str) -> usize {
    METHODS
        .iter()
        .position(|x| *x == method)
        .unwrap_or(METHODS.len() - 1)
}

/// The method and scheme of a slot (see [`Active::slot`]).
pub(crate) fn slot_parts(slot: usize) -> (&'static str, &'static str) {
    let (m, s) = (slot / SCHEMES.len(), slot % SCHEMES.len());
    (
        METHODS.get(m).copied().unwrap_or("_OTHER"),
        SCHEMES.get(s).copied().unwrap_or("http"),
    )
}

impl Active {
    /// The slot of a (method, scheme) pair, as given by `semconv`: the
    /// metric attributes of a request follow from it.
    pub(crate) fn slot(method: &str, https: bool) -> usize {
        method_slot(method) * SCHEMES.len() + usize::from(https)
    }

    /// Adds `delta` to `slot` in `stripe` (the [`stripe`] of the thread
    /// that counted the request in: a request counted out on another thread
    /// takes itself off the same count).
    pub(crate) fn add(&self, slot: usize, stripe: usize, delta: i64) {
        let count = self.stripes.get(stripe).and_then(|s| s.0.get(slot));
        if let (Some(count), Some(seen)) = (count, self.seen.get(slot)) {
            count.fetch_add(delta, Ordering::Relaxed);
            // Written once: a store on every request would take the line
            // from every other core serving requests.
            if !seen.load(Ordering::Relaxed) {
                seen.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The requests in flight in `slot`, over every thread's stripe.
    fn count(&self, slot: usize) -> i64 {
        self.stripes
            .iter()
            .filter_map(|s| s.0.get(slot))
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    fn observe(&self, observer: &dyn opentelemetry::metrics::AsyncInstrument<i64>) {
        for (slot, seen) in self.seen.iter().enumerate() {
            if seen.load(Ordering::Relaxed) {
                let (method, scheme) = slot_parts(slot);
                let attrs = [
                    KeyValue::new(sc::HTTP_REQUEST_METHOD, method),
                    KeyValue::new(sc::URL_SCHEME, scheme),
                ];
                observer.observe(self.count(slot), &attrs);
            }
        }
    }
}

/// Bucket boundaries (seconds) the HTTP semantic conventions recommend.
pub(crate) const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    pub(crate) duration: Arc<BoundDurations>,
    pub(crate) request_size: Histogram<u64>,
    pub(crate) response_size: Histogram<u64>,
    pub(crate) active: Arc<Active>,
    _active_instrument: ObservableUpDownCounter<i64>,
}

impl ServerMetrics {
    /// The instruments of `meter`; `sdk` says whether it is the SDK's, whose
    /// histograms bind to attribute sets.
    pub(crate) fn new(meter: &Meter, sdk: bool) -> Self {
        let active = Arc::new(Active::default());
        let duration = meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("Duration of HTTP server requests.")
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .build();
        let duration = Arc::new(BoundDurations::new(meter, duration, sdk));
        // The SDK runs no callback of an instrument a view drops: both
        // observable instruments hand the queued durations over, so that
        // dropping either one holds none back.
        let hand_over = duration.hand_over_all_fn();
        Self {
            duration,
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
                .with_callback(move |observer| {
                    hand_over();
                    active.observe(observer);
                })
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

/// Requests recorded into bound histograms, at most: past it (a service with
/// thousands of routes and statuses) measurements take the SDK's own path.
const BOUND_LIMIT: usize = 2_000;

/// `http.server.request.duration` with one bound SDK histogram per
/// (method, scheme, route, status): a request then records into an
/// aggregator resolved once, instead of the SDK hashing its attribute set on
/// every measurement. Only with the SDK's meter provider, whose instruments
/// bind; any other provider gets plain `record` calls.
pub(crate) struct BoundDurations {
    histogram: Histogram<f64>,
    bind: bool,
    /// Tells this instance's entries apart in the threads' caches.
    id: u64,
    /// Keyed by route (`""` for none), then a short list of (slot, status).
    table: RwLock<HashMap<Box<str>, Vec<Bound>, Words>>,
    len: AtomicUsize,
    /// Every thread's measurements not yet handed to the SDK.
    pending: Arc<Mutex<Queues>>,
    /// Hands them over at the start of every collection (it observes
    /// nothing itself, so it exports nothing); only when binding.
    _flush: Option<ObservableGauge<u64>>,
}

/// The threads' queues of one `BoundDurations`.
#[derive(Default)]
struct Queues {
    all: Vec<Arc<Pending>>,
    /// How many were left by the last pruning.
    kept: usize,
}

impl Queues {
    /// Adds `queue`. Queues no thread's cache holds any more (replaced in
    /// it, or their thread ended) are handed over and go, once they may
    /// have doubled in number since the last pruning: a cache that keeps
    /// replacing entries does not grow the list between collections.
    fn add(&mut self, queue: Arc<Pending>) {
        if self.all.len() >= 2 * self.kept.max(CACHE_WAYS) {
            self.prune();
        }
        self.all.push(queue);
    }

    fn prune(&mut self) {
        // Dropping a queue hands it over.
        self.all.retain(|queue| Arc::strong_count(queue) > 1);
        self.kept = self.all.len();
    }
}

/// Measurements in a thread's queue, at most, before the thread hands them
/// to the SDK itself.
const PENDING: usize = 32;

/// Durations one thread recorded for one attribute set and not yet handed
/// to the SDK's bound histogram: each attribute set's histogram is one lock
/// with its buckets, which two cores recording into it at once would take
/// from each other on every request. The thread that owns the queue appends
/// with plain stores (no lock, no read-modify-write); the queue is emptied
/// into the histogram under `drain`, by the owner when it is full and by
/// every collection before the SDK reads the histograms, so that no
/// measurement is missing from any export.
struct Pending {
    histogram: BoundHistogram<f64>,
    /// The durations' bits, in a ring: slot `n % PENDING` for the n-th.
    values: [AtomicU64; PENDING],
    /// Appended so far; written by the owning thread alone.
    head: AtomicUsize,
    /// Handed to the SDK so far; written under `drain` alone.
    tail: AtomicUsize,
    drain: Mutex<()>,
}

impl Pending {
    fn new(histogram: BoundHistogram<f64>) -> Self {
        Self {
            histogram,
            values: [const { AtomicU64::new(0) }; PENDING],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            drain: Mutex::new(()),
        }
    }

    /// Appends `secs`; only the thread whose cache holds this queue calls it.
    fn push(&self, secs: f64) {
        let head = self.head.load(Ordering::Relaxed);
        // `tail` with Acquire: the drain's reads of the slots happened
        // before the slot is written again.
        if head.wrapping_sub(self.tail.load(Ordering::Acquire)) >= PENDING {
            self.hand_over();
        }
        if let Some(slot) = self.values.get(head % PENDING) {
            slot.store(secs.to_bits(), Ordering::Relaxed);
        }
        // Release: a drain that sees the new head sees the slot's value.
        self.head.store(head.wrapping_add(1), Ordering::Release);
    }

    /// Records every queued duration into the SDK's histogram.
    fn hand_over(&self) {
        let _drain = self.drain.lock().unwrap_or_else(PoisonError::into_inner);
        let head = self.head.load(Ordering::Acquire);
        let mut tail = self.tail.load(Ordering::Relaxed);
        while tail != head {
            if let Some(slot) = self.values.get(tail % PENDING) {
                self.histogram
                    .record(f64::from_bits(slot.load(Ordering::Relaxed)));
            }
            tail = tail.wrapping_add(1);
        }
        self.tail.store(tail, Ordering::Release);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.hand_over();
    }
}

/// A callback emptying every thread's queue into the SDK. It holds the
/// queues weakly: the provider keeps its callbacks, and must not keep the
/// queues (and, through them, their histograms) for ever.
fn hand_over_fn(queues: &Arc<Mutex<Queues>>) -> impl Fn() + Send + Sync + 'static {
    let queues = Arc::downgrade(queues);
    move || {
        if let Some(queues) = Weak::upgrade(&queues) {
            hand_over_all(&queues);
        }
    }
}

/// Empties every thread's queue into the SDK; queues no thread's cache
/// holds any more go.
fn hand_over_all(queues: &Mutex<Queues>) {
    let mut queues = queues.lock().unwrap_or_else(PoisonError::into_inner);
    for queue in &queues.all {
        queue.hand_over();
    }
    queues.prune();
}

struct Bound {
    slot: usize,
    status: u16,
    histogram: BoundHistogram<f64>,
}

/// A bound histogram in a thread's cache.
struct Cached {
    hash: u64,
    id: u64,
    slot: usize,
    status: u16,
    route: CachedRoute,
    /// This thread's queue for the attribute set's bound histogram.
    pending: Arc<Pending>,
}

/// The route of a cached entry: an interned template by its address (it
/// lives as long as the process and no other template has it), any other
/// by its text.
#[derive(PartialEq)]
enum CachedRoute {
    None,
    Interned(usize),
    Other(Box<str>),
}

impl CachedRoute {
    fn of(route: RouteKey<'_>) -> Self {
        match route {
            RouteKey::None => Self::None,
            RouteKey::Interned(r) => Self::Interned(r.as_ptr() as usize),
            RouteKey::Other(r) => Self::Other(r.into()),
        }
    }

    fn is(&self, route: RouteKey<'_>) -> bool {
        match (self, route) {
            (Self::None, RouteKey::None) => true,
            (Self::Interned(at), RouteKey::Interned(r)) => *at == r.as_ptr() as usize,
            (Self::Other(text), RouteKey::Other(r)) => **text == *r,
            _ => false,
        }
    }
}

const CACHE_WAYS: usize = 32;

thread_local! {
    /// Bound histograms this thread used last, keyed by instance and
    /// attribute set. An entry keeps its histogram alive until replaced:
    /// at most `CACHE_WAYS` per thread.
    static CACHE: RefCell<[Option<Cached>; CACHE_WAYS]> =
        const { RefCell::new([const { None }; CACHE_WAYS]) };
}

/// What identifies a duration's attribute set.
pub(crate) struct DurationKey<'a> {
    pub(crate) slot: usize,
    pub(crate) route: RouteKey<'a>,
    pub(crate) status: u16,
}

/// A duration's route template.
#[derive(Clone, Copy)]
pub(crate) enum RouteKey<'a> {
    None,
    /// From the intern table: one address per template, kept for the
    /// process's life, so the thread's cache keys it by address (no hashing
    /// or comparing of its text).
    Interned(&'static str),
    Other(&'a str),
}

impl RouteKey<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Interned(r) => Some(r),
            Self::Other(r) => Some(r),
        }
    }
}

impl BoundDurations {
    /// `histogram`, with the collections of `meter`'s provider emptying
    /// the threads' queues into it first.
    pub(crate) fn new(meter: &Meter, histogram: Histogram<f64>, bind: bool) -> Self {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let pending = Arc::new(Mutex::new(Queues::default()));
        let flush = bind.then(|| {
            let hand_over = hand_over_fn(&pending);
            meter
                .u64_observable_gauge("o11y.http.server.request.duration.pending")
                .with_description(
                    "Hands the threads' queued durations to the SDK; observes nothing.",
                )
                .with_callback(move |_| hand_over())
                .build()
        });
        Self {
            histogram,
            bind,
            id: IDS.fetch_add(1, Ordering::Relaxed),
            table: RwLock::new(HashMap::default()),
            len: AtomicUsize::new(0),
            pending,
            _flush: flush,
        }
    }

    /// What the hand-over gauge's callback does (nothing when not binding):
    /// for another observable instrument's callback to do too.
    pub(crate) fn hand_over_all_fn(&self) -> impl Fn() + Send + Sync + 'static {
        let hand_over = self.bind.then(|| hand_over_fn(&self.pending));
        move || hand_over.iter().for_each(|f| f())
    }

    /// Records `secs` for `key`; `attributes` builds the attribute set the
    /// first time a key is seen (or every time, when binding is off).
    pub(crate) fn record(
        &self,
        secs: f64,
        key: &DurationKey<'_>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) {
        if !self.bind {
            return self.histogram.record(secs, &attributes());
        }
        // The calling thread's cache first: no lock, no shared cache line.
        let hash = self.cache_hash(key);
        // Two ways per set, the one used last first: keys that share a set
        // (likely, with a few dozen routes and statuses) do not evict each
        // other on every request.
        let (first, second) = crate::intern::set(hash, CACHE_WAYS);
        let is = |entry: &Option<Cached>| {
            entry.as_ref().is_some_and(|e| {
                e.hash == hash
                    && e.id == self.id
                    && e.slot == key.slot
                    && e.status == key.status
                    && e.route.is(key.route)
            })
        };
        let hit = CACHE
            .try_with(|cache| {
                let mut cache = cache.try_borrow_mut().ok()?;
                if !cache.get(first).is_some_and(is) {
                    if !cache.get(second).is_some_and(is) {
                        return None;
                    }
                    cache.swap(first, second);
                }
                let entry = cache.get(first)?.as_ref()?;
                entry.pending.push(secs);
                Some(())
            })
            .ok()
            .flatten();
        if hit.is_some() {
            return;
        }
        if let Some(histogram) = self.record_shared(secs, key, attributes) {
            let pending = Arc::new(Pending::new(histogram));
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .add(pending.clone());
            let _ = CACHE.try_with(|cache| {
                if let Ok(mut cache) = cache.try_borrow_mut() {
                    // The set's other entry goes; the one used last moves over.
                    cache.swap(first, second);
                    if let Some(entry) = cache.get_mut(first) {
                        *entry = Some(Cached {
                            hash,
                            id: self.id,
                            slot: key.slot,
                            status: key.status,
                            route: CachedRoute::of(key.route),
                            pending,
                        });
                    }
                }
            });
        }
    }

    fn cache_hash(&self, key: &DurationKey<'_>) -> u64 {
        let mut h = Words::default().build_hasher();
        match key.route {
            RouteKey::None => {}
            RouteKey::Interned(r) => h.write_usize(r.as_ptr() as usize),
            RouteKey::Other(r) => h.write(r.as_bytes()),
        }
        h.write_u64(self.id);
        h.write_u64((key.slot as u64) << 16 | u64::from(key.status));
        h.finish()
    }

    /// Records through the shared table; returns the bound histogram used,
    /// for the thread's cache.
    fn record_shared(
        &self,
        secs: f64,
        key: &DurationKey<'_>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Option<BoundHistogram<f64>> {
        let route = key.route.text().unwrap_or("");
        let matches = |b: &&Bound| b.slot == key.slot && b.status == key.status;
        {
            let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(bound) = table.get(route).and_then(|v| v.iter().find(matches)) {
                bound.histogram.record(secs);
                return Some(bound.histogram.clone());
            }
        }
        let attributes = attributes();
        if self.len.load(Ordering::Relaxed) >= BOUND_LIMIT {
            self.histogram.record(secs, &attributes);
            return None;
        }
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let entries = table.entry(route.into()).or_default();
        if let Some(bound) = entries.iter().find(matches) {
            bound.histogram.record(secs);
            return Some(bound.histogram.clone());
        }
        let histogram = self.histogram.bind(&attributes);
        histogram.record(secs);
        entries.push(Bound {
            slot: key.slot,
            status: key.status,
            histogram: histogram.clone(),
        });
        self.len.fetch_add(1, Ordering::Relaxed);
        Some(histogram)
    }
}

impl BoundDurations {
    /// Records `secs` with `attributes`, through the SDK's lookup.
    pub(crate) fn record_unbound(&self, secs: f64, attributes: &[KeyValue]) {
        self.histogram.record(secs, attributes);
    }
}

impl std::fmt::Debug for BoundDurations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundDurations")
            .field("bind", &self.bind)
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{
        InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
        data::{AggregatedMetrics, MetricData},
    };

    use super::*;

    /// A request counted in on one thread and out on another leaves the
    /// count at zero; requests still in flight on several threads add up.
    #[test]
    fn in_flight_counts_add_up_over_threads() {
        let active = Active::default();
        let slot = Active::slot("GET", false);
        let here = stripe();
        active.add(slot, here, 1);
        active.add(slot, here, 1);
        std::thread::scope(|s| {
            s.spawn(|| active.add(slot, stripe(), -1));
            s.spawn(|| active.add(slot, stripe(), 1));
        });
        assert_eq!(active.count(slot), 2);
        std::thread::scope(|s| {
            s.spawn(|| active.add(slot, stripe(), -1));
        });
        active.add(slot, here, -1);
        assert_eq!(active.count(slot), 0);
        assert_eq!(active.count(Active::slot("POST", true)), 0);
    }

    fn durations(bind: bool) -> (BoundDurations, SdkMeterProvider, InMemoryMetricExporter) {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let meter = provider.meter("test");
        let histogram = meter.f64_histogram("d").build();
        (
            BoundDurations::new(&meter, histogram, bind),
            provider,
            exporter,
        )
    }

    /// (attributes, count, sum) of every exported point, sorted.
    fn points(
        provider: &SdkMeterProvider,
        exporter: &InMemoryMetricExporter,
    ) -> Vec<(String, u64, f64)> {
        provider.force_flush().unwrap();
        let mut out = Vec::new();
        for rm in exporter.get_finished_metrics().unwrap() {
            for scope in rm.scope_metrics() {
                for m in scope.metrics() {
                    if let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() {
                        for p in h.data_points() {
                            let mut attrs: Vec<String> = p
                                .attributes()
                                .map(|kv| format!("{}={}", kv.key, kv.value))
                                .collect();
                            attrs.sort();
                            out.push((attrs.join(","), p.count(), p.sum()));
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn attrs(route: Option<&str>, status: u16) -> Vec<KeyValue> {
        let mut v = vec![KeyValue::new("m", "GET")];
        if let Some(r) = route {
            v.push(KeyValue::new("r", r.to_owned()));
        }
        v.push(KeyValue::new("s", i64::from(status)));
        v
    }

    fn record(d: &BoundDurations, slot: usize, route: Option<&str>, status: u16, secs: f64) {
        let key = DurationKey {
            slot,
            route: route.map_or(RouteKey::None, RouteKey::Other),
            status,
        };
        d.record(secs, &key, || attrs(route, status));
    }

    fn record_interned(d: &BoundDurations, route: &'static str, status: u16, secs: f64) {
        let key = DurationKey {
            slot: 0,
            route: RouteKey::Interned(route),
            status,
        };
        d.record(secs, &key, || attrs(Some(route), status));
    }

    /// A view that drops the hand-over gauge (an allow-list of the `http.*`
    /// instruments, say) does not hold the queued durations back: the
    /// active-requests callback hands them over too. Nor does one that drops
    /// `http.server.active_requests`.
    #[test]
    fn durations_reach_the_export_when_a_view_drops_either_observable() {
        use opentelemetry_sdk::metrics::{Aggregation, Instrument, Stream};
        for dropped in ["o11y.", "http.server.active_requests"] {
            let exporter = InMemoryMetricExporter::default();
            let provider = SdkMeterProvider::builder()
                .with_reader(PeriodicReader::builder(exporter.clone()).build())
                .with_view(move |i: &Instrument| {
                    i.name().starts_with(dropped).then(|| {
                        Stream::builder()
                            .with_aggregation(Aggregation::Drop)
                            .build()
                            .ok()
                    })?
                })
                .build();
            let metrics = ServerMetrics::new(&provider.meter("test"), true);
            for _ in 0..3 {
                record(&metrics.duration, 0, Some("/v"), 200, 0.25);
            }
            let durations: Vec<_> = points(&provider, &exporter)
                .into_iter()
                .filter(|(_, count, _)| *count > 0)
                .map(|(_, count, sum)| (count, sum))
                .collect();
            assert_eq!(durations, vec![(3, 0.75)], "a view dropping {dropped}*");
        }
    }

    /// Durations queued per thread are all in the next export: fewer than
    /// a queue holds, more than it holds (handed over by the thread itself
    /// when full), and those of a thread that has ended.
    #[test]
    fn queued_durations_are_all_in_the_next_export() {
        let (d, provider, exporter) = durations(true);
        for _ in 0..(PENDING * 3 + 5) {
            record(&d, 0, Some("/q"), 200, 0.5);
        }
        std::thread::scope(|s| {
            s.spawn(|| (0..3).for_each(|_| record(&d, 0, Some("/q"), 200, 2.0)));
            s.spawn(|| record(&d, 0, Some("/q"), 500, 8.0));
        });
        let expected_ok = (PENDING * 3 + 5) as f64 * 0.5 + 6.0;
        assert_eq!(
            points(&provider, &exporter),
            vec![
                (
                    "m=GET,r=/q,s=200".to_owned(),
                    (PENDING * 3 + 8) as u64,
                    expected_ok
                ),
                ("m=GET,r=/q,s=500".to_owned(), 1, 8.0),
            ]
        );
        // Queues keep working after a collection emptied them.
        record(&d, 0, Some("/q"), 500, 1.0);
        let last = points(&provider, &exporter);
        assert!(
            last.contains(&("m=GET,r=/q,s=500".to_owned(), 2, 9.0)),
            "{last:?}"
        );
    }

    /// A thread whose cache keeps replacing entries (more attribute sets
    /// than it holds) leaves a bounded list of queues between collections,
    /// and loses no measurement.
    #[test]
    fn replaced_queues_are_handed_over_and_go() {
        let (d, provider, exporter) = durations(true);
        let statuses = 4 * CACHE_WAYS as u16;
        for _ in 0..5 {
            for status in 0..statuses {
                record(&d, 0, Some("/many"), 200 + status, 1.0);
            }
        }
        let queues = d.pending.lock().unwrap().all.len();
        assert!(
            queues <= 2 * usize::from(statuses),
            "{queues} queues for {statuses} attribute sets"
        );
        let points = points(&provider, &exporter);
        assert_eq!(points.len(), usize::from(statuses));
        assert!(
            points
                .iter()
                .all(|(_, count, sum)| *count == 5 && *sum == 5.0),
            "{points:?}"
        );
    }

    #[test]
    fn interned_routes_are_told_apart_and_meet_their_copies() {
        let (d, provider, exporter) = durations(true);
        let a = crate::intern::route("/interned/a").map(|r| r.template);
        let b = crate::intern::route("/interned/b").map(|r| r.template);
        let (Some(a), Some(b)) = (a, b) else {
            panic!("the intern table has room");
        };
        for _ in 0..2 {
            record_interned(&d, a, 200, 1.0);
            record_interned(&d, b, 200, 2.0);
            // The same text, not interned (a full table): the same point.
            record(&d, 0, Some("/interned/a"), 200, 4.0);
        }
        assert_eq!(
            points(&provider, &exporter),
            vec![
                ("m=GET,r=/interned/a,s=200".to_owned(), 4, 10.0),
                ("m=GET,r=/interned/b,s=200".to_owned(), 2, 4.0),
            ]
        );
    }

    #[test]
    fn two_keys_sharing_a_cache_set_both_stay_cached() {
        let (d, provider, exporter) = durations(true);
        fn key(route: &str) -> DurationKey<'_> {
            DurationKey {
                slot: 0,
                route: RouteKey::Other(route),
                status: 200,
            }
        }
        let routes = crate::intern::keys_in_one_set("/set", 2, |r| {
            crate::intern::set(d.cache_hash(&key(r)), CACHE_WAYS)
        });
        let [a, b] = routes.as_slice() else {
            unreachable!("two routes")
        };
        for _ in 0..3 {
            record(&d, 0, Some(a), 200, 1.0);
            record(&d, 0, Some(b), 200, 1.0);
        }
        let cached = |r: &str| {
            CACHE.with(|c| {
                c.borrow()
                    .iter()
                    .flatten()
                    .any(|e| e.id == d.id && e.route.is(key(r).route))
            })
        };
        assert!(cached(a) && cached(b), "both entries of the set kept");
        let total: u64 = points(&provider, &exporter).iter().map(|p| p.1).sum();
        assert_eq!(total, 6);
    }

    #[test]
    fn bound_and_unbound_paths_export_the_same_points() {
        let mut results = Vec::new();
        for bind in [true, false] {
            let (d, provider, exporter) = durations(bind);
            for _ in 0..3 {
                record(&d, 0, Some("/a"), 200, 0.5);
            }
            record(&d, 0, Some("/a"), 500, 1.0);
            record(&d, 0, None, 200, 0.25);
            record(&d, 0, None, 200, 0.25);
            results.push(points(&provider, &exporter));
        }
        let expected = vec![
            ("m=GET,r=/a,s=200".to_owned(), 3, 1.5),
            ("m=GET,r=/a,s=500".to_owned(), 1, 1.0),
            ("m=GET,s=200".to_owned(), 2, 0.5),
        ];
        assert_eq!(results[0], expected, "bound");
        assert_eq!(results[1], expected, "unbound");
    }

    #[test]
    fn two_instances_on_one_thread_keep_their_own_points() {
        let (a, pa, ea) = durations(true);
        let (b, pb, eb) = durations(true);
        for _ in 0..3 {
            record(&a, 0, Some("/x"), 200, 1.0);
            record(&b, 0, Some("/x"), 200, 2.0);
        }
        record(&a, 0, Some("/x"), 201, 1.0);
        assert_eq!(
            points(&pa, &ea),
            vec![
                ("m=GET,r=/x,s=200".to_owned(), 3, 3.0),
                ("m=GET,r=/x,s=201".to_owned(), 1, 1.0)
            ]
        );
        assert_eq!(
            points(&pb, &eb),
            vec![("m=GET,r=/x,s=200".to_owned(), 3, 6.0)]
        );
    }

    #[test]
    fn past_the_limit_nothing_is_lost() {
        let (d, provider, exporter) = durations(true);
        let n = BOUND_LIMIT + 50;
        for i in 0..n {
            record(&d, 1, Some(&format!("/r{i}")), 200, 1.0);
        }
        assert_eq!(d.len.load(Ordering::Relaxed), BOUND_LIMIT);
        let total: u64 = points(&provider, &exporter).iter().map(|p| p.1).sum();
        assert_eq!(
            total, n as u64,
            "every measurement exported (some in the overflow set)"
        );
    }
}
