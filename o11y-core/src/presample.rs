//! Sampling decided ahead of the SDK, for the tracer providers o11y builds.
//!
//! To learn that a span is not sampled, the SDK builds it: a span object
//! with a copy of its tracer, moved out and dropped again (about 500
//! instructions, and a shared reference count touched twice). Nine requests
//! in ten pay that at 10 % sampling. When o11y built the provider, with a
//! sampler whose decision follows from the parent and the trace id alone
//! (always on or off, a trace-id ratio, parent-based over those), a
//! [`Presampler`] asks that same sampler first. For a span the provider would
//! drop it gives the identity the span would have had (what children and
//! outgoing requests carry), and the SDK is not called; otherwise the caller
//! starts the span through the SDK, which asks the sampler again and gets the
//! same answer, for the same trace id.
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
    trace::{Link, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId},
};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SamplingDecision, ShouldSample};

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

thread_local! {
    static TRACE_IDS: Cell<Xoshiro> = Cell::new(Xoshiro::seeded(1));
    static SPAN_IDS: Cell<Xoshiro> = Cell::new(Xoshiro::seeded(2));
}

/// The trace id this thread's next [`Ids::new_trace_id`] returns, and the
/// generator's state once it is drawn (`None` while the thread is being torn
/// down).
fn next_trace_id() -> Option<(TraceId, Xoshiro)> {
    TRACE_IDS.try_with(|s| s.get().trace_id()).ok()
}

impl IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        TRACE_IDS
            .try_with(|s| {
                let (id, after) = s.get().trace_id();
                s.set(after);
                id
            })
            .unwrap_or_else(|_| RandomIdGenerator::default().new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        SPAN_IDS
            .try_with(|s| {
                let mut state = s.get();
                let id = state.next();
                s.set(state);
                SpanId::from(id.max(1))
            })
            .unwrap_or_else(|_| RandomIdGenerator::default().new_span_id())
    }
}

/// Asks a provider's sampler, ahead of the SDK, whether it would drop a span
/// (see the [module](self)). Made by o11y for the providers it builds:
/// [`Guard::presampler`](crate::Guard::presampler),
/// [`installed_tracer`](crate::installed_tracer).
#[derive(Clone, Debug)]
pub struct Presampler {
    sampler: Box<dyn ShouldSample>,
}

impl Presampler {
    /// For a provider built with `config` and `Ids`: `None` when asking
    /// ahead is not sound (a sampler with state) or useless (one that never
    /// drops).
    pub(crate) fn new(config: &SamplerConfig) -> Option<Self> {
        (decided_by_ids(config) && may_drop(config)).then(|| Self {
            sampler: config.build(),
        })
    }

    /// `Some(identity)` when the provider would drop a span with this
    /// parent, name, kind and links (and no attributes): the identity it
    /// would have had (the parent's trace id or the next new one, a new span
    /// id, not sampled, the sampler's trace state). `None` when it may record
    /// it: start it through the SDK, which decides the same way, for the same
    /// trace id.
    pub fn dropped(
        &self,
        parent: &Context,
        name: &str,
        kind: &SpanKind,
        links: &[Link],
    ) -> Option<SpanContext> {
        // The SDK gives a suppressed context an empty span: leave it to it.
        if parent.is_telemetry_suppressed() {
            return None;
        }
        // A new trace's id is read ahead, and drawn only for a dropped span.
        let (trace_id, drawn) = {
            let span = parent.span();
            let sc = span.span_context();
            if sc.is_valid() {
                (sc.trace_id(), None)
            } else {
                let (id, after) = next_trace_id()?;
                (id, Some(after))
            }
        };
        let result = self
            .sampler
            .should_sample(Some(parent), trace_id, name, kind, &[], links);
        if result.decision != SamplingDecision::Drop {
            return None;
        }
        if let Some(after) = drawn {
            let _ = TRACE_IDS.try_with(|s| s.set(after));
        }
        Some(SpanContext::new(
            trace_id,
            Ids.new_span_id(),
            TraceFlags::default(),
            false,
            result.trace_state,
        ))
    }
}

/// Whether `config`'s decisions follow from the parent and the trace id
/// alone.
fn decided_by_ids(config: &SamplerConfig) -> bool {
    match config {
        SamplerConfig::AlwaysOn | SamplerConfig::AlwaysOff | SamplerConfig::TraceIdRatio(_) => true,
        SamplerConfig::RateLimited(_) => false,
        SamplerConfig::ParentBased(root) => decided_by_ids(root),
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

    use opentelemetry::trace::{Span, TraceState, Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    use super::*;

    fn read_ahead() -> TraceId {
        next_trace_id().unwrap().0
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
            match presampler.dropped(&root, "GET", &SpanKind::Server, &[]) {
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
        assert!(
            presampler
                .dropped(&sampled, "GET", &SpanKind::Server, &[])
                .is_none()
        );
        let unsampled = parent(TraceFlags::default());
        let identity = presampler
            .dropped(&unsampled, "GET", &SpanKind::Server, &[])
            .unwrap();
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
        assert!(
            presampler
                .dropped(&cx, "GET", &SpanKind::Server, &[])
                .is_none()
        );
    }
}
