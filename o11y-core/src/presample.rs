//! Sampling decided ahead of the SDK, for the tracer providers o11y builds.
//!
//! To learn that a span is not sampled, the SDK builds it: a span object
//! with a copy of its tracer, moved out and dropped again (about 500
//! instructions, and a shared reference count touched twice). Nine requests
//! in ten pay that at 10 % sampling. When o11y built the provider, with a
//! sampler whose decision follows from the parent and the trace id alone
//! (always on or off, a trace-id ratio, parent-based over those), a
//! [`Presampler`] computes that sampler's decision first, as the SDK's
//! sampler computes it. For a span the provider would drop it gives the
//! identity the span would have had (what children and outgoing requests
//! carry), and the SDK is not called. For one it records it gives the trace
//! id, so that the caller can hand the SDK the span's attributes up front
//! rather than one by one; the SDK asks its sampler again and gets the same
//! answer, for the same trace id.
//!
//! The same trace id: for a new trace the SDK draws one from the provider's
//! id generator. The one o11y gives its providers draws trace ids from a
//! per-thread generator of their own, so the next one can be read without
//! being drawn, and span ids from another (the SDK draws the span id first).
//!
//! Samplers with state (the rate-limited one) are never asked ahead: a second
//! question would take a second token.

use std::cell::Cell;

use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId},
};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

use crate::sampler::SamplerConfig;

/// The id generator of the tracer providers o11y builds: random trace and
/// span ids from two per-thread xoshiro256++ generators (the SDK's default
/// generator is one too), seeded from the standard library's per-thread
/// random keys. Trace ids have a generator of their own so that the next one
/// can be read ahead ([`Presampler`]): the SDK draws a span id first.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ids;

/// xoshiro256++ (Blackman and Vigna): 256 bits of state, so that no two
/// threads' or processes' sequences overlap in practice.
#[derive(Clone, Copy)]
struct Xoshiro([u64; 4]);

impl Xoshiro {
    fn seeded(stream: u64) -> Self {
        use std::hash::{BuildHasher, RandomState};
        let keys = RandomState::new();
        let thread = std::thread::current().id();
        let mut state = [0u64; 4];
        for (word, i) in state.iter_mut().zip(0u64..) {
            *word = keys.hash_one((stream, i, thread));
        }
        // The all-zero state is the one the generator never leaves.
        if state == [0; 4] {
            state = [1, 2, 3, 4];
        }
        Self(state)
    }

    /// The next output, without advancing.
    fn peek(&self) -> u64 {
        let [s0, _, _, s3] = self.0;
        s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0)
    }

    fn advance(&mut self) {
        let [s0, s1, s2, s3] = self.0;
        let t = s1 << 17;
        let s2 = s2 ^ s0;
        let s3 = s3 ^ s1;
        let s1 = s1 ^ s2;
        let s0 = s0 ^ s3;
        self.0 = [s0, s1, s2 ^ t, s3.rotate_left(45)];
    }

    fn next(&mut self) -> u64 {
        let v = self.peek();
        self.advance();
        v
    }

    /// The next trace id (two outputs), and the state after it.
    fn trace_id(mut self) -> (TraceId, Self) {
        let hi = self.next();
        let lo = self.next();
        // Zero is the invalid id (one chance in 2^128).
        (
            TraceId::from((u128::from(hi) << 64 | u128::from(lo)).max(1)),
            self,
        )
    }
}

/// A thread's two generators, in one thread-local (one look-up when the
/// presampler both reads a trace id ahead and draws a span id).
struct Generators {
    trace: Cell<Xoshiro>,
    span: Cell<Xoshiro>,
}

impl Generators {
    fn draw_trace_id(&self) -> TraceId {
        let (id, after) = self.trace.get().trace_id();
        self.trace.set(after);
        id
    }

    fn draw_span_id(&self) -> SpanId {
        let mut state = self.span.get();
        let id = state.next();
        self.span.set(state);
        SpanId::from(id.max(1))
    }
}

thread_local! {
    static IDS: Generators = Generators {
        trace: Cell::new(Xoshiro::seeded(1)),
        span: Cell::new(Xoshiro::seeded(2)),
    };
}

/// The trace id this thread's next [`Ids::new_trace_id`] returns, and the
/// generator's state once it is drawn (`None` while the thread is being torn
/// down).
#[cfg(test)]
fn next_trace_id() -> Option<(TraceId, Xoshiro)> {
    IDS.try_with(|g| g.trace.get().trace_id()).ok()
}

impl IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        IDS.try_with(Generators::draw_trace_id)
            .unwrap_or_else(|_| RandomIdGenerator::default().new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        IDS.try_with(Generators::draw_span_id)
            .unwrap_or_else(|_| RandomIdGenerator::default().new_span_id())
    }
}

/// Asks a provider's sampler, ahead of the SDK, how it would decide a span
/// (see the [module](self)). Made by o11y for the providers it builds:
/// [`Guard::presampler`](crate::Guard::presampler),
/// [`installed_tracer`](crate::installed_tracer).
#[derive(Clone, Debug)]
pub struct Presampler {
    rule: Rule,
}

/// What the provider's sampler will decide for a span, told ahead.
#[derive(Clone, Debug, PartialEq)]
pub enum Ahead {
    /// It drops the span: the identity the span would have had (the
    /// parent's trace id or the next new one, a new span id, not sampled,
    /// the parent's trace state), for children and outgoing requests.
    Drop(SpanContext),
    /// It records and samples the span, in this trace (the parent's, or the
    /// id the SDK draws next for a new trace): its attributes can be given
    /// to the SDK up front.
    Record(TraceId),
}

/// The decision of a [`SamplerConfig`] whose decisions follow from the
/// parent and the trace id alone, computed as the SDK's `Sampler` computes
/// it (`tests::rules_decide_as_the_sdk_samplers` holds them together).
#[derive(Clone, Debug)]
enum Rule {
    On,
    Off,
    /// Sampled when the trace id's last 8 bytes, shifted right by one, are
    /// below this bound (the SDK's `TraceIdRatioBased`).
    Below(u64),
    /// A parent's decision when the context has a span, else the rule's.
    ParentBased(Box<Rule>),
}

impl Rule {
    /// `None` for a sampler with state.
    fn of(config: &SamplerConfig) -> Option<Self> {
        Some(match config {
            SamplerConfig::AlwaysOn => Self::On,
            SamplerConfig::AlwaysOff => Self::Off,
            SamplerConfig::TraceIdRatio(ratio) if *ratio >= 1.0 => Self::On,
            // As the SDK: a negative or NaN ratio samples nothing, and the
            // product saturates into `u64`.
            SamplerConfig::TraceIdRatio(ratio) => {
                Self::Below((ratio.max(0.0) * (1u64 << 63) as f64) as u64)
            }
            SamplerConfig::RateLimited(_) => return None,
            SamplerConfig::ParentBased(root) => Self::ParentBased(Box::new(Self::of(root)?)),
        })
    }

    fn samples(&self, parent: &Context, trace_id: TraceId) -> bool {
        match self {
            Self::On => true,
            Self::Off => false,
            Self::Below(bound) => {
                let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
                (low >> 1) < *bound
            }
            // As the SDK's `Sampler::ParentBased`: any span in the context,
            // even an invalid one, decides.
            Self::ParentBased(root) => {
                if parent.has_active_span() {
                    parent.span().span_context().is_sampled()
                } else {
                    root.samples(parent, trace_id)
                }
            }
        }
    }
}

impl Presampler {
    /// For a provider built with `config` and `Ids`: `None` when asking
    /// ahead is not sound (a sampler with state) or useless (one that never
    /// drops).
    pub(crate) fn new(config: &SamplerConfig) -> Option<Self> {
        if !may_drop(config) {
            return None;
        }
        Some(Self {
            rule: Rule::of(config)?,
        })
    }

    /// How the provider will decide a span with this parent (and any name,
    /// kind, attributes and links: its sampler looks at none of them).
    /// `None` when it cannot be told ahead: a suppressed context (the SDK
    /// gives it an empty span), or a thread being torn down.
    pub fn ahead(&self, parent: &Context) -> Option<Ahead> {
        if parent.is_telemetry_suppressed() {
            return None;
        }
        let span = parent.span();
        let sc = span.span_context();
        IDS.try_with(|ids| {
            // A new trace's id is read ahead, and drawn only for a dropped
            // span (for a recorded one, the SDK draws it).
            let (trace_id, drawn) = if sc.is_valid() {
                (sc.trace_id(), None)
            } else {
                let (id, after) = ids.trace.get().trace_id();
                (id, Some(after))
            };
            if self.rule.samples(parent, trace_id) {
                return Ahead::Record(trace_id);
            }
            if let Some(after) = drawn {
                ids.trace.set(after);
            }
            Ahead::Drop(SpanContext::new(
                trace_id,
                ids.draw_span_id(),
                TraceFlags::default(),
                false,
                sc.trace_state().clone(),
            ))
        })
        .ok()
    }
}

/// Whether `config` drops any span (parent-based ones drop the children of
/// unsampled parents).
fn may_drop(config: &SamplerConfig) -> bool {
    !matches!(config, SamplerConfig::AlwaysOn)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use opentelemetry::trace::{Span, SpanKind, TraceState, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SamplingDecision, SdkTracerProvider};

    use super::*;

    fn read_ahead() -> TraceId {
        next_trace_id().unwrap().0
    }

    /// The identity of a span the provider would drop with this parent.
    fn dropped(presampler: &Presampler, parent: &Context) -> Option<SpanContext> {
        match presampler.ahead(parent)? {
            Ahead::Drop(identity) => Some(identity),
            Ahead::Record(_) => None,
        }
    }

    /// The reference implementation's first outputs from state 1, 2, 3, 4.
    #[test]
    fn xoshiro_matches_the_reference() {
        let mut x = Xoshiro([1, 2, 3, 4]);
        let first: Vec<u64> = (0..4).map(|_| x.next()).collect();
        assert_eq!(
            first,
            [41943041, 58720359, 3588806011781223, 3591011842654386]
        );
    }

    #[test]
    fn the_next_trace_id_is_read_ahead_without_being_drawn() {
        let ahead = read_ahead();
        // Span ids come from another stream: drawing them changes nothing.
        let _ = Ids.new_span_id();
        assert_eq!(read_ahead(), ahead);
        assert_eq!(Ids.new_trace_id(), ahead);
        assert_ne!(read_ahead(), ahead);
    }

    #[test]
    fn ids_are_valid_and_distinct_across_threads() {
        let draw = || {
            (0..1000)
                .map(|_| (Ids.new_trace_id(), Ids.new_span_id()))
                .collect::<Vec<_>>()
        };
        let here = draw();
        let there = std::thread::spawn(draw).join().unwrap();
        let traces: HashSet<TraceId> = here.iter().chain(&there).map(|(t, _)| *t).collect();
        let spans: HashSet<SpanId> = here.iter().chain(&there).map(|(_, s)| *s).collect();
        assert_eq!(traces.len(), 2000);
        assert_eq!(spans.len(), 2000);
        assert!(!traces.contains(&TraceId::INVALID));
        assert!(!spans.contains(&SpanId::INVALID));
    }

    fn provider(config: &SamplerConfig) -> (SdkTracerProvider, InMemorySpanExporter) {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(config.build())
            .with_id_generator(Ids)
            .with_simple_exporter(exporter.clone())
            .build();
        (provider, exporter)
    }

    /// Roots: every span the presampler lets through, the SDK samples, with
    /// the trace id read ahead; every one it drops, the sampler drops for
    /// its trace id; and about the ratio is sampled.
    #[test]
    fn ahead_and_sdk_agree_on_new_traces() {
        let config = SamplerConfig::ParentBased(Box::new(SamplerConfig::TraceIdRatio(0.25)));
        let presampler = Presampler::new(&config).unwrap();
        let (provider, exporter) = provider(&config);
        let tracer = provider.tracer("t");
        let root = Context::new();
        let (mut sampled, n) = (0u32, 4000u32);
        let mut traces = HashSet::new();
        for _ in 0..n {
            let ahead = read_ahead();
            assert!(traces.insert(ahead), "each new trace gets an id of its own");
            match dropped(&presampler, &root) {
                Some(identity) => {
                    assert_eq!(identity.trace_id(), ahead);
                    assert!(!identity.is_sampled() && identity.is_valid());
                    let again = config.build().should_sample(
                        Some(&root),
                        identity.trace_id(),
                        "GET",
                        &SpanKind::Server,
                        &[],
                        &[],
                    );
                    assert_eq!(again.decision, SamplingDecision::Drop);
                }
                None => {
                    let span = tracer
                        .span_builder("GET")
                        .with_kind(SpanKind::Server)
                        .start_with_context(&tracer, &root);
                    let sc = span.span_context().clone();
                    assert!(sc.is_sampled(), "the SDK agrees");
                    assert_eq!(sc.trace_id(), ahead, "for the id read ahead");
                    sampled += 1;
                }
            }
        }
        drop(tracer);
        provider.force_flush().unwrap();
        assert_eq!(
            exporter.get_finished_spans().unwrap().len(),
            sampled as usize
        );
        let share = f64::from(sampled) / f64::from(n);
        assert!((0.2..0.3).contains(&share), "{share}");
    }

    /// Every rule decides as the SDK sampler built from the same config, for
    /// random trace ids, ids at the ratio's edge, and every kind of parent.
    #[test]
    fn rules_decide_as_the_sdk_samplers() {
        use SamplerConfig::*;
        let ratios = [0.0, 1e-9, 0.1, 0.25, 0.5, 0.999, 1.0, 2.0, -1.0, f64::NAN];
        let mut configs = vec![AlwaysOn, AlwaysOff];
        for r in ratios {
            configs.push(TraceIdRatio(r));
            configs.push(ParentBased(Box::new(TraceIdRatio(r))));
        }
        configs.push(ParentBased(Box::new(AlwaysOn)));
        configs.push(ParentBased(Box::new(AlwaysOff)));
        configs.push(ParentBased(Box::new(ParentBased(Box::new(TraceIdRatio(
            0.3,
        ))))));
        let remote = |flags| {
            Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(3u128),
                SpanId::from(4u64),
                flags,
                true,
                TraceState::default(),
            ))
        };
        let parents = [
            Context::new(),
            remote(TraceFlags::SAMPLED),
            remote(TraceFlags::default()),
            // A span in the context, though an invalid one.
            Context::new().with_remote_span_context(SpanContext::empty_context()),
        ];
        let mut ids: Vec<TraceId> = (0..2000).map(|_| Ids.new_trace_id()).collect();
        // Low halves at the edge of a 0.25 ratio: 2^61 shifted in by one.
        for low in [
            (1u128 << 62) - 2,
            (1u128 << 62) - 1,
            1u128 << 62,
            (1 << 62) + 1,
        ] {
            ids.push(TraceId::from((7u128 << 64) | low));
        }
        ids.push(TraceId::from(u128::MAX));
        for config in &configs {
            let rule = Rule::of(config).unwrap();
            let sdk = config.build();
            for parent in &parents {
                for id in &ids {
                    let decision = sdk
                        .should_sample(Some(parent), *id, "GET", &SpanKind::Server, &[], &[])
                        .decision;
                    assert_eq!(
                        rule.samples(parent, *id),
                        decision == SamplingDecision::RecordAndSample,
                        "{config:?} for {id:?}"
                    );
                    assert_ne!(decision, SamplingDecision::RecordOnly);
                }
            }
        }
    }

    /// A span the provider records is told with the trace id the SDK then
    /// gives it, and the id is left to the SDK to draw.
    #[test]
    fn a_recorded_root_is_told_with_the_id_the_sdk_draws() {
        let config = SamplerConfig::TraceIdRatio(1.0 - f64::EPSILON);
        let presampler = Presampler::new(&config).unwrap();
        let (provider, _exporter) = provider(&config);
        let tracer = provider.tracer("t");
        let root = Context::new();
        let mut recorded = 0;
        for _ in 0..100 {
            let ahead = read_ahead();
            let Some(Ahead::Record(id)) = presampler.ahead(&root) else {
                continue;
            };
            assert_eq!(id, ahead);
            assert_eq!(read_ahead(), ahead, "not drawn");
            let span = tracer
                .span_builder("GET")
                .with_kind(SpanKind::Server)
                .start_with_context(&tracer, &root);
            assert_eq!(span.span_context().trace_id(), id);
            assert!(span.is_recording());
            recorded += 1;
        }
        assert!(recorded > 90, "{recorded}");
    }

    #[test]
    fn children_follow_their_parent() {
        let config = SamplerConfig::ParentBased(Box::new(SamplerConfig::AlwaysOn));
        let presampler = Presampler::new(&config).unwrap();
        let state = TraceState::from_key_value([("k", "v")]).unwrap();
        let parent = |flags| {
            Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(7u128),
                SpanId::from(9u64),
                flags,
                true,
                state.clone(),
            ))
        };
        let sampled = parent(TraceFlags::SAMPLED);
        assert!(dropped(&presampler, &sampled).is_none());
        let unsampled = parent(TraceFlags::default());
        let identity = dropped(&presampler, &unsampled).unwrap();
        assert_eq!(
            identity.trace_id(),
            TraceId::from(7u128),
            "the caller's trace"
        );
        assert_ne!(identity.span_id(), SpanId::from(9u64), "a span of its own");
        assert!(!identity.is_sampled() && !identity.is_remote());
        assert_eq!(identity.trace_state().get("k"), Some("v"));
    }

    #[test]
    fn only_samplers_without_state_that_drop_are_asked_ahead() {
        use SamplerConfig::*;
        assert!(Presampler::new(&AlwaysOn).is_none(), "never drops");
        assert!(Presampler::new(&RateLimited(10.0)).is_none(), "has state");
        assert!(Presampler::new(&ParentBased(Box::new(RateLimited(10.0)))).is_none());
        assert!(Presampler::new(&AlwaysOff).is_some());
        assert!(Presampler::new(&TraceIdRatio(0.5)).is_some());
        assert!(Presampler::new(&ParentBased(Box::new(AlwaysOn))).is_some());
    }

    #[test]
    fn a_suppressed_context_is_left_to_the_sdk() {
        let presampler = Presampler::new(&SamplerConfig::AlwaysOff).unwrap();
        let cx = Context::new().with_telemetry_suppressed();
        assert_eq!(presampler.ahead(&cx), None);
    }
}
