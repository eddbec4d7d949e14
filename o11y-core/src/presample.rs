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
//! id generator. o11y's ([`Ids`]) draws trace ids from a per-thread stream of
//! their own, so the next one can be read without being drawn, and spans ids
//! from another stream (the SDK draws the span id first).
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
/// span ids from two per-thread generators (SplitMix64, seeded from the
/// standard library's per-thread random keys), so that the next trace id can
/// be read ahead ([`Presampler`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ids;

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn seed(stream: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one((stream, std::thread::current().id()))
}

thread_local! {
    static TRACE_IDS: Cell<u64> = Cell::new(seed(1));
    static SPAN_IDS: Cell<u64> = Cell::new(seed(2));
}

/// The trace id drawn from a stream at `state` (two steps).
fn trace_id_at(state: u64) -> TraceId {
    let hi = mix(state.wrapping_add(GOLDEN));
    let lo = mix(state.wrapping_add(GOLDEN.wrapping_mul(2)));
    // Zero is the invalid id (one chance in 2^128).
    TraceId::from((u128::from(hi) << 64 | u128::from(lo)).max(1))
}

/// The trace id this thread's next [`Ids::new_trace_id`] returns (`None`
/// while the thread is being torn down).
fn next_trace_id() -> Option<TraceId> {
    TRACE_IDS.try_with(|s| trace_id_at(s.get())).ok()
}

impl IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        TRACE_IDS
            .try_with(|s| {
                let state = s.get();
                s.set(state.wrapping_add(GOLDEN.wrapping_mul(2)));
                trace_id_at(state)
            })
            .unwrap_or_else(|_| RandomIdGenerator::default().new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        SPAN_IDS
            .try_with(|s| {
                let state = s.get().wrapping_add(GOLDEN);
                s.set(state);
                SpanId::from(mix(state).max(1))
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
    /// For a provider built with `config` and [`Ids`]: `None` when asking
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
        let (trace_id, new_trace) = {
            let span = parent.span();
            let sc = span.span_context();
            if sc.is_valid() {
                (sc.trace_id(), false)
            } else {
                (next_trace_id()?, true)
            }
        };
        let result = self
            .sampler
            .should_sample(Some(parent), trace_id, name, kind, &[], links);
        if result.decision != SamplingDecision::Drop {
            return None;
        }
        if new_trace {
            // Drawn now: the id read ahead is this span's.
            let _ = Ids.new_trace_id();
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

    #[test]
    fn the_next_trace_id_is_read_ahead_without_being_drawn() {
        let ahead = next_trace_id().unwrap();
        // Span ids come from another stream: drawing them changes nothing.
        let _ = Ids.new_span_id();
        assert_eq!(next_trace_id(), Some(ahead));
        assert_eq!(Ids.new_trace_id(), ahead);
        assert_ne!(next_trace_id(), Some(ahead));
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
        for _ in 0..n {
            let ahead = next_trace_id().unwrap();
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
