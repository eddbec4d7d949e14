//! W3C Trace Context (Level 2), W3C Baggage and the correlation id, as one
//! OpenTelemetry [`TextMapPropagator`] that is stricter than the SDK's.
//!
//! [`Propagator`] is what [`init`](crate::init) installs globally. It also has
//! allocation-free fast paths for [`http::HeaderMap`], which the HTTP layers use.
//!
//! ```
//! use http::HeaderMap;
//! use o11y_core::propagation::Propagator;
//! use opentelemetry::{trace::TraceContextExt, Context};
//!
//! let mut headers = HeaderMap::new();
//! headers.append("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
//! // The same value twice (a proxy duplicated the header): cleaned to one.
//! headers.append("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
//!
//! let propagator = Propagator::default();
//! let cx = propagator.extract_headers_with_context(&Context::new(), &headers);
//! assert_eq!(cx.span().span_context().trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
//! assert_eq!(o11y_core::propagation::DuplicateTraceparent::in_context(&cx).map(|d| d.values), Some(2));
//!
//! let mut out = HeaderMap::new();
//! propagator.inject_headers(&cx, &mut out);
//! assert_eq!(out["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
//! assert!(out.get("tracestate").is_none()); // never an empty tracestate
//! ```
//!
//! The rules, from the specification:
//! - `traceparent`: exact field lengths, lowercase hex, version `ff` invalid,
//!   later versions parsed forward-compatibly, all-zero ids invalid; the
//!   `sampled` and Level 2 `random` flags are carried: `random` is sent on
//!   whenever it came in, sampled or not (the SDK keeps it only on sampled
//!   spans), and for traces this library starts ([`mark_random_trace_id`]).
//!   A bad value starts a new trace.
//! - Repeated `traceparent` values (several headers or a comma-joined one) that
//!   name the same trace are cleaned to one, and a [`DuplicateTraceparent`] is
//!   left in the context for the next span to record; values naming different
//!   traces restart the trace.
//! - `tracestate`: every header value is combined; see [`parse_tracestate`].
//!   Members whose keys Level 2 allows but the SDK's `TraceState` cannot hold
//!   (`foo@@bar`, a 256-character `tenant@system` key) are kept: the whole
//!   list rides in the context beside the SDK's state and is sent on as it
//!   came, or after the SDK's members when something changed the state.
//! - `baggage`: every header value is combined, then the SDK's W3C parser applies
//!   its limits (64 members, 8192 bytes). It is sent on percent-encoded so that
//!   it reads back the same (`%` and decoded properties included), in one
//!   header of at most 8192 bytes: a member whose encoded form would not fit
//!   is left out.

mod any_case;
mod traceparent;
mod tracestate;

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    baggage::BaggageExt,
    propagation::{Extractor, Injector, TextMapPropagator, text_map_propagator::FieldIter},
    trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState},
};

pub use any_case::AnyCase;
pub use traceparent::{EncodedTraceparent, TRACEPARENT_LEN, Traceparent, TraceparentError};
pub use tracestate::{
    MAX_LEN as TRACESTATE_MAX_LEN, MAX_MEMBERS as TRACESTATE_MAX_MEMBERS, TracestateError,
    parse_tracestate,
};
use tracestate::{join, parse_members, split_header, to_sdk, trim_to_limit};

use crate::correlation::{
    CorrelationContextExt, CorrelationId, CorrelationRef, X_REQUEST_ID, X_TRACE_ID,
};

/// `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `tracestate`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `baggage`.
pub const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

static TRACEPARENT_NAME: HeaderName = TRACEPARENT;
static TRACESTATE_NAME: HeaderName = TRACESTATE;
static BAGGAGE_NAME: HeaderName = BAGGAGE;
static X_REQUEST_ID_NAME: HeaderName = HeaderName::from_static(X_REQUEST_ID);

/// Left in an extracted context when the carrier held more than one
/// `traceparent` value: several headers, or one comma-joined header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DuplicateTraceparent {
    /// How many values there were.
    pub values: usize,
    /// `true` when they named different traces (the trace was restarted);
    /// `false` when they were cleaned to one.
    pub conflicting: bool,
}

impl DuplicateTraceparent {
    /// The note left in `cx`, if extraction found duplicates.
    pub fn in_context(cx: &Context) -> Option<&Self> {
        cx.get::<Self>()
    }
}

/// The trace id of a trace whose id is random (W3C Level 2 `random` flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RandomTraceId(TraceId);

/// A `tracestate` list that the SDK's [`TraceState`] could not hold whole.
#[derive(Clone, Debug, PartialEq)]
struct FullTracestate {
    trace_id: TraceId,
    /// What the SDK held when the list was extracted.
    held: TraceState,
    /// The whole list, as received (combined, de-duplicated, trimmed).
    header: String,
    /// The members the SDK could not hold.
    extras: Vec<(String, String)>,
}

/// Records that the trace of `cx`'s span has a random trace id, so that the
/// W3C Level 2 `random` flag is sent with it.
///
/// The SDK's id generator draws random trace ids, but its span contexts do
/// not set the flag for new traces, and drop it from spans that are not
/// sampled. Layers call this when they start a new trace; extraction does it
/// for an incoming `traceparent` with the flag.
///
/// ```
/// use o11y_core::propagation::{mark_random_trace_id, traceparent_of};
/// use opentelemetry::{Context, trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState}};
///
/// let sc = SpanContext::new(TraceId::from(7), SpanId::from(9), TraceFlags::SAMPLED, false, TraceState::NONE);
/// let cx = Context::new().with_remote_span_context(sc);
/// assert_eq!(traceparent_of(&cx).unwrap().flags().to_u8(), 0x01);
/// assert_eq!(traceparent_of(&mark_random_trace_id(&cx)).unwrap().flags().to_u8(), 0x03);
/// ```
pub fn mark_random_trace_id(cx: &Context) -> Context {
    let span = cx.span();
    let sc = span.span_context();
    if sc.is_valid() {
        cx.with_value(RandomTraceId(sc.trace_id()))
    } else {
        cx.clone()
    }
}

/// The `traceparent` this crate sends for `cx`, if its span is valid: the
/// span's ids and `sampled` flag, with `random` set as described in
/// [`mark_random_trace_id`].
pub fn traceparent_of(cx: &Context) -> Option<Traceparent> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| Traceparent::new(sc.trace_id(), sc.span_id(), outgoing_flags(cx, sc)))
}

const RANDOM: u8 = 0x02;

fn outgoing_flags(cx: &Context, sc: &SpanContext) -> TraceFlags {
    let random = cx
        .get::<RandomTraceId>()
        .is_some_and(|r| r.0 == sc.trace_id());
    if random {
        TraceFlags::new(sc.trace_flags().to_u8() | RANDOM)
    } else {
        sc.trace_flags()
    }
}

/// The `tracestate` header value to send for `sc` in `cx`, if any.
fn outgoing_tracestate(cx: &Context, sc: &SpanContext) -> Option<String> {
    let state = sc.trace_state();
    let full = cx
        .get::<FullTracestate>()
        .filter(|full| full.trace_id == sc.trace_id());
    let header = match full {
        Some(full) if full.held == *state => full.header.clone(),
        Some(full) => {
            // The state changed here (a sampler or vendor code updated it): its
            // members first, then those the SDK could not hold.
            let own = state.header();
            let mut members = split_header(&own);
            for (k, v) in &full.extras {
                if !members.iter().any(|(key, _)| key == k) {
                    members.push((k, v));
                }
            }
            trim_to_limit(&mut members);
            join(&members)
        }
        None if *state == TraceState::NONE => return None,
        None => state.header(),
    };
    (!header.is_empty()).then_some(header)
}

/// What a `traceparent` carrier held.
#[derive(Debug, PartialEq, Eq)]
enum Parent {
    None,
    One(Traceparent, usize),
    Conflict(usize),
}

fn read_traceparent<'a>(values: impl Iterator<Item = &'a [u8]>) -> Parent {
    let mut found: Option<Traceparent> = None;
    let mut count = 0;
    let mut invalid = false;
    for value in values {
        for piece in value.split(|&c| c == b',') {
            let piece = piece.trim_ascii();
            if piece.is_empty() {
                continue;
            }
            count += 1;
            let parsed = std::str::from_utf8(piece)
                .ok()
                .and_then(|s| Traceparent::parse(s).ok());
            match (parsed, found) {
                (None, _) => invalid = true,
                (Some(tp), None) => found = Some(tp),
                (Some(tp), Some(first)) if tp.trace_id() != first.trace_id() => invalid = true,
                (Some(_), Some(_)) => {}
            }
        }
    }
    match found {
        Some(tp) if !invalid => Parent::One(tp, count),
        _ if count > 1 => Parent::Conflict(count),
        _ => Parent::None,
    }
}

/// What one look at a carrier found: enough to take the common case (one
/// `traceparent`, nothing else) without a second lookup.
#[derive(Debug, Default, PartialEq)]
struct Scan<'a> {
    traceparent: Option<&'a [u8]>,
    traceparents: usize,
    tracestate: bool,
    baggage: bool,
    correlation: Option<&'a [u8]>,
    request_id: Option<&'a [u8]>,
}

/// Reads repeated fields of a carrier.
trait Carrier {
    fn values<'a>(&'a self, key: &'a HeaderName) -> impl Iterator<Item = &'a [u8]>;
    fn first(&self, key: &HeaderName) -> Option<&[u8]>;

    fn scan(&self, correlation: Option<&HeaderName>) -> Scan<'_> {
        let mut traceparents = self.values(&TRACEPARENT_NAME);
        let traceparent = traceparents.next();
        Scan {
            traceparent,
            traceparents: usize::from(traceparent.is_some()) + traceparents.count(),
            tracestate: self.first(&TRACESTATE_NAME).is_some(),
            baggage: self.first(&BAGGAGE_NAME).is_some(),
            correlation: correlation.and_then(|name| self.first(name)),
            request_id: correlation.and_then(|_| self.first(&X_REQUEST_ID_NAME)),
        }
    }
}

/// Below this many values, one pass over the map beats a lookup per field.
const SCAN_LIMIT: usize = 24;

impl Carrier for HeaderMap {
    fn values<'a>(&'a self, key: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> {
        self.get_all(key).iter().map(HeaderValue::as_bytes)
    }
    fn first(&self, key: &HeaderName) -> Option<&[u8]> {
        self.get(key).map(HeaderValue::as_bytes)
    }

    fn scan(&self, correlation: Option<&HeaderName>) -> Scan<'_> {
        if self.len() > SCAN_LIMIT {
            let mut traceparents = Carrier::values(self, &TRACEPARENT_NAME);
            let traceparent = traceparents.next();
            return Scan {
                traceparent,
                traceparents: usize::from(traceparent.is_some()) + traceparents.count(),
                tracestate: self.contains_key(&TRACESTATE_NAME),
                baggage: self.contains_key(&BAGGAGE_NAME),
                correlation: correlation.and_then(|name| self.first(name)),
                request_id: correlation.and_then(|_| self.first(&X_REQUEST_ID_NAME)),
            };
        }
        let mut scan = Scan::default();
        for (name, value) in self {
            if *name == TRACEPARENT_NAME {
                scan.traceparents += 1;
                scan.traceparent = scan.traceparent.or(Some(value.as_bytes()));
            } else if *name == TRACESTATE_NAME {
                scan.tracestate = true;
            } else if *name == BAGGAGE_NAME {
                scan.baggage = true;
            } else if Some(name) == correlation {
                scan.correlation = scan.correlation.or(Some(value.as_bytes()));
            } else if correlation.is_some() && *name == X_REQUEST_ID_NAME {
                scan.request_id = scan.request_id.or(Some(value.as_bytes()));
            }
        }
        scan
    }
}

struct Dyn<'e>(&'e dyn Extractor);

impl Carrier for Dyn<'_> {
    fn values<'a>(&'a self, key: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> {
        self.0
            .get_all(key.as_str())
            .unwrap_or_default()
            .into_iter()
            .map(str::as_bytes)
    }
    fn first(&self, key: &HeaderName) -> Option<&[u8]> {
        self.0.get(key.as_str()).map(str::as_bytes)
    }
}

/// Which parts of the context travel, from `OTEL_PROPAGATORS` or code.
///
/// `Default` propagates everything: trace context, baggage and the
/// correlation id under `x-trace-id` (also reading `x-request-id`).
#[derive(Clone, Debug)]
pub struct Propagator {
    trace_context: bool,
    baggage: bool,
    correlation: Option<HeaderName>,
    /// Whether a correlation id that is only the trace id is injected too.
    implied_correlation: bool,
    fields: Vec<String>,
}

impl Default for Propagator {
    fn default() -> Self {
        PropagatorBuilder::default().build()
    }
}

/// Builds a [`Propagator`]; every part is on unless turned off.
///
/// ```
/// use o11y_core::propagation::Propagator;
///
/// // W3C trace context only: no baggage, no correlation id header.
/// let propagator = Propagator::builder().baggage(false).correlation_header(None).build();
/// ```
#[derive(Clone, Debug)]
pub struct PropagatorBuilder {
    trace_context: bool,
    baggage: bool,
    correlation: Option<HeaderName>,
    implied_correlation: bool,
}

impl Default for PropagatorBuilder {
    fn default() -> Self {
        Self {
            trace_context: true,
            baggage: true,
            correlation: Some(HeaderName::from_static(X_TRACE_ID)),
            implied_correlation: true,
        }
    }
}

impl PropagatorBuilder {
    /// Whether `traceparent` and `tracestate` travel (default: yes).
    pub fn trace_context(mut self, on: bool) -> Self {
        self.trace_context = on;
        self
    }

    /// Whether W3C `baggage` travels (default: yes).
    pub fn baggage(mut self, on: bool) -> Self {
        self.baggage = on;
        self
    }

    /// The correlation id's header name (default `x-trace-id`), or `None` to
    /// leave the correlation id out.
    pub fn correlation_header(mut self, name: Option<HeaderName>) -> Self {
        self.correlation = name;
        self
    }

    /// See [`Propagator::with_implied_correlation`] (default: yes).
    pub fn implied_correlation(mut self, inject: bool) -> Self {
        self.implied_correlation = inject;
        self
    }

    /// The propagator.
    pub fn build(self) -> Propagator {
        let mut fields = Vec::new();
        if self.trace_context {
            fields.extend([TRACEPARENT.to_string(), TRACESTATE.to_string()]);
        }
        if self.baggage {
            fields.push(BAGGAGE.to_string());
        }
        if let Some(name) = &self.correlation {
            fields.push(name.to_string());
        }
        Propagator {
            trace_context: self.trace_context,
            baggage: self.baggage,
            correlation: self.correlation,
            implied_correlation: self.implied_correlation,
            fields,
        }
    }
}

impl Propagator {
    /// A builder, with every part on.
    pub fn builder() -> PropagatorBuilder {
        PropagatorBuilder::default()
    }

    fn to_builder(&self) -> PropagatorBuilder {
        PropagatorBuilder {
            trace_context: self.trace_context,
            baggage: self.baggage,
            correlation: self.correlation.clone(),
            implied_correlation: self.implied_correlation,
        }
    }

    /// This propagator with the correlation id header `name` (or, with
    /// `None`, without the correlation id).
    pub fn with_correlation_header(&self, name: Option<HeaderName>) -> Self {
        self.to_builder().correlation_header(name).build()
    }

    /// Whether to inject a correlation id that is only the trace id (the
    /// default: yes, for systems that read the correlation header alone).
    /// With `false` the header is sent only for a stored id that differs from
    /// the trace id; a receiver using this crate reads the same id from
    /// `traceparent`. o11y-queue turns it off for messages, where every
    /// extra header costs the broker client parsing per message.
    pub fn with_implied_correlation(&self, inject: bool) -> Self {
        self.to_builder().implied_correlation(inject).build()
    }

    fn correlation_to_inject<'a>(&self, cx: &'a Context) -> Option<CorrelationRef<'a>> {
        cx.correlation()
            .filter(|id| self.implied_correlation || !id.is_trace_id())
    }

    /// The correlation id header name, if the id is propagated.
    pub fn correlation_header(&self) -> Option<&HeaderName> {
        self.correlation.as_ref()
    }

    /// The propagator [`init`](crate::init) installed, or the default one.
    pub fn global() -> &'static Propagator {
        GLOBAL.get_or_init(Propagator::default)
    }

    pub(crate) fn set_global(propagator: Propagator) -> bool {
        GLOBAL.set(propagator).is_ok()
    }

    /// Extracts from `headers` on top of the current context.
    pub fn extract_headers(&self, headers: &HeaderMap) -> Context {
        Context::map_current(|cx| self.extract_headers_with_context(cx, headers))
    }

    /// Extracts from `headers` on top of `cx`. Reads every value of repeated
    /// headers and allocates nothing for a lone valid `traceparent`.
    pub fn extract_headers_with_context(&self, cx: &Context, headers: &HeaderMap) -> Context {
        self.extract_from(cx, headers)
    }

    /// Injects `cx` into `headers`, replacing (never duplicating) existing fields.
    pub fn inject_headers(&self, cx: &Context, headers: &mut HeaderMap) {
        if self.trace_context {
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                let tp = Traceparent::new(sc.trace_id(), sc.span_id(), outgoing_flags(cx, sc));
                if let Ok(value) = HeaderValue::from_bytes(tp.encode().as_bytes()) {
                    headers.insert(TRACEPARENT, value);
                }
                match outgoing_tracestate(cx, sc).map(HeaderValue::try_from) {
                    Some(Ok(value)) => {
                        headers.insert(TRACESTATE, value);
                    }
                    _ => {
                        headers.remove(TRACESTATE);
                    }
                }
            }
        }
        if let Some(header) = self.baggage.then(|| baggage_header(cx)).flatten()
            && let Ok(value) = HeaderValue::try_from(header)
        {
            headers.insert(BAGGAGE, value);
        }
        if let (Some(name), Some(id)) = (&self.correlation, self.correlation_to_inject(cx)) {
            if let Ok(value) = HeaderValue::from_bytes(id.as_bytes()) {
                headers.insert(name.clone(), value);
            }
        }
    }

    fn extract_from<C: Carrier>(&self, cx: &Context, carrier: &C) -> Context {
        let scan = carrier.scan(self.correlation.as_ref());
        let mut cx = if self.trace_context {
            extract_trace(cx, carrier, &scan)
        } else {
            cx.clone()
        };
        if self.baggage && scan.baggage {
            cx = extract_baggage(cx, carrier);
        }
        let valid = |v: &[u8]| CorrelationId::from_bytes(v).ok();
        let id = scan.correlation.and_then(valid);
        if let Some(id) = id.or_else(|| scan.request_id.and_then(valid)) {
            cx = cx.with_correlation_id(id);
        }
        cx
    }
}

static GLOBAL: OnceLock<Propagator> = OnceLock::new();
fn sdk_baggage() -> opentelemetry_sdk::propagation::BaggagePropagator {
    opentelemetry_sdk::propagation::BaggagePropagator::new()
}

fn extract_trace<C: Carrier>(cx: &Context, carrier: &C, scan: &Scan<'_>) -> Context {
    let parent = match (scan.traceparents, scan.traceparent) {
        (0, _) | (_, None) => Parent::None,
        // The common case: one value, not comma-joined. Parsing checks every
        // character of a value of version 00's length, so a valid one of
        // that length holds no comma and is not searched for one.
        (1, Some(v)) => match Traceparent::parse_bytes(v) {
            Ok(tp) if v.len() == TRACEPARENT_LEN || !v.contains(&b',') => Parent::One(tp, 1),
            Err(_) if !v.contains(&b',') => Parent::None,
            _ => read_traceparent(carrier.values(&TRACEPARENT_NAME)),
        },
        _ => read_traceparent(carrier.values(&TRACEPARENT_NAME)),
    };
    match parent {
        Parent::None => cx.clone(),
        Parent::Conflict(values) => cx.with_value(DuplicateTraceparent {
            values,
            conflicting: true,
        }),
        Parent::One(tp, count) => {
            let mut full = None;
            let state = if scan.tracestate {
                let values = carrier
                    .values(&TRACESTATE_NAME)
                    .filter_map(|v| std::str::from_utf8(v).ok());
                let members = parse_members(values).unwrap_or_default();
                let (state, extras) = to_sdk(&members);
                if !extras.is_empty() {
                    full = Some(FullTracestate {
                        trace_id: tp.trace_id(),
                        held: state.clone(),
                        header: join(&members),
                        extras: extras
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                            .collect(),
                    });
                }
                state
            } else {
                TraceState::NONE
            };
            let sc = SpanContext::new(tp.trace_id(), tp.span_id(), tp.flags(), true, state);
            let mut cx = cx.with_remote_span_context(sc);
            if let Some(full) = full {
                cx = cx.with_value(full);
            }
            if tp.flags().to_u8() & RANDOM != 0 {
                cx = cx.with_value(RandomTraceId(tp.trace_id()));
            }
            if count > 1 {
                cx.with_value(DuplicateTraceparent {
                    values: count,
                    conflicting: false,
                })
            } else {
                cx
            }
        }
    }
}

/// The longest `baggage` header a receiver takes (W3C Baggage; the SDK drops
/// a longer one whole).
const BAGGAGE_MAX_LEN: usize = 8192;

/// The `baggage` header for `cx`'s baggage; `None` when it has no member.
/// Names and values are percent-encoded wherever the format or the SDK's
/// parser would read a byte differently (`%` included, so `%25` goes out as
/// it came in), properties likewise but for their `;` and `=`. A member that
/// would take the header past 8192 bytes is left out, rather than the
/// receiver dropping the whole header. (The SDK's own injection sends `%`
/// and decoded properties raw: `p%2Cq` came back as two members.)
fn baggage_header(cx: &Context) -> Option<String> {
    fn encode(out: &mut String, text: &str, keep: &[u8]) {
        use std::fmt::Write as _;
        for &b in text.as_bytes() {
            if (b.is_ascii_graphic() && !b"\",;=%\\".contains(&b)) || keep.contains(&b) {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    let mut header = String::new();
    let mut member = String::new();
    for (name, (value, metadata)) in cx.baggage() {
        member.clear();
        encode(&mut member, name.as_str().trim(), &[]);
        member.push('=');
        encode(&mut member, value.as_str().trim(), &[]);
        let metadata = metadata.as_str().trim();
        if !metadata.is_empty() {
            member.push(';');
            encode(&mut member, metadata, b";=");
        }
        let comma = usize::from(!header.is_empty());
        if header.len() + comma + member.len() <= BAGGAGE_MAX_LEN {
            if comma == 1 {
                header.push(',');
            }
            header.push_str(&member);
        }
    }
    (!header.is_empty()).then_some(header)
}

fn extract_baggage<C: Carrier>(cx: Context, carrier: &C) -> Context {
    if carrier.first(&BAGGAGE).is_none() {
        return cx;
    }
    let joined: Vec<&str> = carrier
        .values(&BAGGAGE_NAME)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .collect();
    let joined = joined.join(",");
    let single = std::collections::HashMap::from([(BAGGAGE.to_string(), joined)]);
    sdk_baggage().extract_with_context(&cx, &single)
}

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if self.trace_context {
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                let tp = Traceparent::new(sc.trace_id(), sc.span_id(), outgoing_flags(cx, sc));
                injector.set(TRACEPARENT.as_str(), tp.encode().as_str().to_owned());
                if let Some(header) = outgoing_tracestate(cx, sc) {
                    injector.set(TRACESTATE.as_str(), header);
                }
            }
        }
        if let Some(header) = self.baggage.then(|| baggage_header(cx)).flatten() {
            injector.set(BAGGAGE.as_str(), header);
        }
        if let (Some(name), Some(id)) = (&self.correlation, self.correlation_to_inject(cx)) {
            injector.set(name.as_str(), id.as_str().to_owned());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.extract_from(cx, &Dyn(extractor))
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests;
