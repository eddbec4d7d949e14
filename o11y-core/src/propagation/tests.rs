use std::collections::HashMap;

use http::HeaderMap;
use opentelemetry::{
    Context, KeyValue,
    baggage::BaggageExt,
    propagation::TextMapPropagator,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use proptest::prelude::*;

use super::*;

const TID: &str = "12345678901234567890123456789012";
const SID: &str = "1234567890123456";

fn tp(tid: &str) -> String {
    format!("00-{tid}-{SID}-01")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn extract(pairs: &[(&str, &str)]) -> Context {
    Propagator::default().extract_headers_with_context(&Context::new(), &headers(pairs))
}

fn trace_id(cx: &Context) -> Option<String> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

#[test]
fn valid_traceparent_becomes_remote_parent() {
    let cx = extract(&[("traceparent", &tp(TID))]);
    let span = cx.span();
    let sc = span.span_context();
    assert_eq!(sc.trace_id().to_string(), TID);
    assert_eq!(sc.span_id().to_string(), SID);
    assert!(sc.is_remote() && sc.is_sampled());
    assert!(DuplicateTraceparent::in_context(&cx).is_none());
}

#[test]
fn header_names_are_case_insensitive() {
    for name in ["TraceParent", "TRACEPARENT", "TrAcEpArEnT"] {
        assert_eq!(
            trace_id(&extract(&[(name, &tp(TID))])).as_deref(),
            Some(TID)
        );
    }
    for name in ["trace-parent", "trace.parent"] {
        assert_eq!(trace_id(&extract(&[(name, &tp(TID))])), None);
    }
}

#[test]
fn malformed_traceparent_starts_a_new_trace() {
    let zero = "0".repeat(32);
    for bad in [
        tp(&zero),
        format!("ff-{TID}-{SID}-01"),
        tp(&TID.to_uppercase().replace('1', "A")),
        format!("{}.", tp(TID)),
    ] {
        let cx = extract(&[("traceparent", &bad)]);
        assert_eq!(trace_id(&cx), None, "{bad}");
    }
}

#[test]
fn duplicated_headers_with_one_trace_id_are_cleaned() {
    let cx = extract(&[("traceparent", &tp(TID)), ("traceparent", &tp(TID))]);
    assert_eq!(trace_id(&cx).as_deref(), Some(TID));
    assert_eq!(
        DuplicateTraceparent::in_context(&cx),
        Some(&DuplicateTraceparent {
            values: 2,
            conflicting: false
        })
    );
}

#[test]
fn comma_joined_value_with_one_trace_id_is_cleaned() {
    let joined = format!("{}, {}", tp(TID), tp(TID));
    let cx = extract(&[("traceparent", &joined)]);
    assert_eq!(trace_id(&cx).as_deref(), Some(TID));
    assert_eq!(
        DuplicateTraceparent::in_context(&cx).map(|d| d.values),
        Some(2)
    );
}

/// Values of exactly version 00's length take a path of their own: a comma
/// in one makes it invalid, padding leaves a valid one valid.
#[test]
fn a_value_of_version_00s_length_is_checked_whole() {
    let valid = tp(TID);
    assert_eq!(valid.len(), TRACEPARENT_LEN);
    assert_eq!(
        trace_id(&extract(&[("traceparent", &valid)])).as_deref(),
        Some(TID)
    );
    let comma = valid.replacen("-01", ",01", 1);
    assert_eq!(comma.len(), TRACEPARENT_LEN);
    assert_eq!(trace_id(&extract(&[("traceparent", &comma)])), None);
    let padded = format!(" {valid}\t");
    assert_eq!(
        trace_id(&extract(&[("traceparent", &padded)])).as_deref(),
        Some(TID)
    );
}

#[test]
fn different_trace_ids_restart_the_trace() {
    let other = "12345678901234567890123456789011";
    let cx = extract(&[("traceparent", &tp(other)), ("traceparent", &tp(TID))]);
    assert_eq!(trace_id(&cx), None);
    assert_eq!(
        DuplicateTraceparent::in_context(&cx),
        Some(&DuplicateTraceparent {
            values: 2,
            conflicting: true
        })
    );
    let joined = format!("{},{}", tp(other), tp(TID));
    assert_eq!(trace_id(&extract(&[("traceparent", &joined)])), None);
}

#[test]
fn a_bad_duplicate_restarts_the_trace() {
    let cx = extract(&[("traceparent", &tp(TID)), ("traceparent", "garbage")]);
    assert_eq!(trace_id(&cx), None);
}

#[test]
fn tracestate_across_headers_is_combined() {
    let cx = extract(&[
        ("traceparent", &tp(TID)),
        ("tracestate", "foo=1,bar=2"),
        ("TraceState", "rojo=1"),
        ("tracestate", ""),
    ]);
    assert_eq!(
        cx.span().span_context().trace_state().header(),
        "foo=1,bar=2,rojo=1"
    );
}

#[test]
fn invalid_tracestate_is_dropped_but_the_trace_continues() {
    let cx = extract(&[
        ("traceparent", &tp(TID)),
        ("tracestate", "foo=1"),
        ("tracestate", "@foo=2"),
    ]);
    assert_eq!(trace_id(&cx).as_deref(), Some(TID));
    assert_eq!(*cx.span().span_context().trace_state(), TraceState::NONE);
    assert_eq!(injected(&cx).get("tracestate"), None);
}

#[test]
fn repeated_tracestate_keys_keep_the_first_member() {
    let cx = extract(&[
        ("traceparent", &tp(TID)),
        ("tracestate", "foo=1"),
        ("tracestate", "foo=2,bar=3"),
    ]);
    assert_eq!(
        cx.span().span_context().trace_state().header(),
        "foo=1,bar=3"
    );
    assert_eq!(injected(&cx)["tracestate"], "foo=1,bar=3");
}

fn injected(cx: &Context) -> HeaderMap {
    let mut out = HeaderMap::new();
    Propagator::default().inject_headers(cx, &mut out);
    let mut map = HashMap::new();
    Propagator::default().inject_context(cx, &mut map);
    for name in ["traceparent", "tracestate"] {
        assert_eq!(
            out.get(name).map(|v| v.to_str().unwrap()),
            map.get(name).map(String::as_str),
            "both inject paths agree on {name}"
        );
    }
    out
}

/// Keys of Level 2's grammar that the SDK's `TraceState` rejects.
fn keys_the_sdk_rejects() -> Vec<String> {
    vec![
        format!("{}@{}", "t".repeat(241), "v".repeat(14)),
        format!("t@{}", "v".repeat(15)),
        "foo@@bar".into(),
        "foo@bar@baz".into(),
    ]
}

#[test]
fn tracestate_members_the_sdk_cannot_hold_are_sent_on_unchanged() {
    for key in keys_the_sdk_rejects() {
        assert!(TraceState::from_key_value([(key.as_str(), "1")]).is_err());
        let member = format!("{key}=1");
        let cx = extract(&[
            ("traceparent", &tp(TID)),
            ("tracestate", "foo=1"),
            ("tracestate", &member),
            ("tracestate", "bar=2"),
        ]);
        assert_eq!(
            cx.span().span_context().trace_state().header(),
            "foo=1,bar=2"
        );
        assert_eq!(injected(&cx)["tracestate"], format!("foo=1,{member},bar=2"));
    }
}

#[test]
fn a_changed_state_keeps_the_members_the_sdk_cannot_hold() {
    let key = &keys_the_sdk_rejects()[0];
    let member = format!("{key}=1");
    let cx = extract(&[
        ("traceparent", &tp(TID)),
        ("tracestate", &format!("foo=1,{member}")),
    ]);
    let span = cx.span();
    let sc = span.span_context();
    let child = SpanContext::new(
        sc.trace_id(),
        SpanId::from(42),
        sc.trace_flags(),
        false,
        sc.trace_state().insert("mine", "x").unwrap(),
    );
    let cx2 = cx.with_remote_span_context(child);
    assert_eq!(
        injected(&cx2)["tracestate"],
        format!("mine=x,foo=1,{member}")
    );
    // Another trace in the same context does not get this trace's list.
    let other = SpanContext::new(
        TraceId::from(5),
        SpanId::from(6),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    );
    assert_eq!(
        injected(&cx.with_remote_span_context(other)).get("tracestate"),
        None
    );
}

#[test]
fn the_random_flag_is_carried_whether_or_not_sampled() {
    for flags in ["02", "03"] {
        let cx = extract(&[("traceparent", &format!("00-{TID}-{SID}-{flags}"))]);
        assert_eq!(
            injected(&cx)["traceparent"],
            format!("00-{TID}-{SID}-{flags}")
        );
    }
    let cx = extract(&[("traceparent", &format!("00-{TID}-{SID}-00"))]);
    assert_eq!(injected(&cx)["traceparent"], format!("00-{TID}-{SID}-00"));
}

#[test]
fn the_random_flag_survives_the_sdk_dropping_a_child_span() {
    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    let tracer = provider.tracer("test");
    for (incoming, outgoing) in [("02", "02"), ("03", "03"), ("00", "00"), ("01", "01")] {
        let parent = extract(&[("traceparent", &format!("00-{TID}-{SID}-{incoming}"))]);
        let span = tracer.start_with_context("child", &parent);
        let cx = parent.with_span(span);
        let out = injected(&cx);
        let tp = Traceparent::parse(out["traceparent"].to_str().unwrap()).unwrap();
        assert_eq!(tp.trace_id().to_string(), TID);
        assert_ne!(tp.span_id().to_string(), SID, "the child's own id");
        assert_eq!(
            format!("{:02x}", tp.flags().to_u8()),
            outgoing,
            "{incoming}"
        );
    }
    // A new trace started here is random once marked so.
    let root = Context::new().with_span(tracer.start("root"));
    let flags = |cx: &Context| traceparent_of(cx).unwrap().flags().to_u8();
    assert_eq!(flags(&root), 0x01);
    assert_eq!(flags(&mark_random_trace_id(&root)), 0x03);
    assert!(
        mark_random_trace_id(&Context::new())
            .get::<RandomTraceId>()
            .is_none()
    );
}

#[test]
fn tracestate_without_traceparent_is_ignored() {
    let cx = extract(&[("tracestate", "foo=1")]);
    assert_eq!(trace_id(&cx), None);
}

#[test]
fn inject_writes_version_00_and_no_empty_tracestate() {
    let sc = SpanContext::new(
        TraceId::from_hex(TID).unwrap(),
        SpanId::from_hex(SID).unwrap(),
        TraceFlags::new(3),
        true,
        TraceState::NONE,
    );
    let cx = Context::new().with_remote_span_context(sc);
    let mut out = headers(&[
        ("traceparent", "stale"),
        ("traceparent", "stale2"),
        ("tracestate", "old=1"),
    ]);
    Propagator::default().inject_headers(&cx, &mut out);
    assert_eq!(
        out.get_all("traceparent").iter().count(),
        1,
        "replaced, never duplicated"
    );
    assert_eq!(out["traceparent"], format!("00-{TID}-{SID}-03"));
    assert!(out.get("tracestate").is_none());

    let mut map = HashMap::new();
    Propagator::default().inject_context(&cx, &mut map);
    assert_eq!(
        map.get("traceparent").map(String::as_str),
        Some(format!("00-{TID}-{SID}-03").as_str())
    );
    assert!(!map.contains_key("tracestate"));
}

#[test]
fn nothing_is_injected_for_an_invalid_context() {
    let mut out = HeaderMap::new();
    Propagator::default().inject_headers(&Context::new(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn baggage_headers_are_combined_and_round_trip() {
    let cx = extract(&[("baggage", "a=1"), ("baggage", "b=two%20words")]);
    assert_eq!(
        cx.baggage().get("a").map(|v| v.as_str().to_owned()),
        Some("1".into())
    );
    assert_eq!(
        cx.baggage().get("b").map(|v| v.as_str().to_owned()),
        Some("two words".into())
    );
    let cx = Context::new().with_baggage([KeyValue::new("k", "v")]);
    let mut out = HeaderMap::new();
    Propagator::default().inject_headers(&cx, &mut out);
    assert_eq!(out["baggage"], "k=v");
}

/// Found with the `baggage` fuzz target (inputs in
/// `fuzz/corpus/baggage/regress-*`): the SDK's injection sent decoded
/// properties and `%` as they were, so what came in as `p%2Cq` went out as
/// `p,q` (two members) and a value `%2541` came back as `A`.
#[test]
fn baggage_is_sent_on_as_it_was_read() {
    let sent_on = |header: &str| {
        let cx = extract(&[("baggage", header)]);
        let mut out = HeaderMap::new();
        Propagator::default().inject_headers(&cx, &mut out);
        let out = out["baggage"].to_str().unwrap().to_owned();
        let again = extract(&[("baggage", &out)]);
        let members = |cx: &Context| {
            let mut m: Vec<_> = cx
                .baggage()
                .iter()
                .map(|(k, (v, p))| format!("{k}={v};{}", p.as_str()))
                .collect();
            m.sort();
            m
        };
        assert_eq!(members(&again), members(&cx), "{header} sent on as {out}");
        out
    };
    assert_eq!(sent_on("k=v;p%2Cq"), "k=v;p%2Cq");
    assert_eq!(sent_on("k=%2541"), "k=%2541");
    assert_eq!(sent_on("k=a%3Db;p=1;q"), "k=a%3Db;p=1;q");
    assert_eq!(sent_on("k=%E2%82%AC%20x"), "k=%E2%82%AC%20x");
}

/// Found writing the `baggage` fuzz target's size check (input in
/// `fuzz/corpus/baggage/regress-encoded-size`): a member that grows when encoded
/// (raw UTF-8 arrives as 2 bytes, leaves as 6) could take the header past
/// the 8192 bytes a receiver takes, and the receiver dropped all of it.
#[test]
fn sent_baggage_stays_within_what_a_receiver_takes() {
    let big = format!("big={}", "é".repeat(2000));
    let cx = extract(&[("baggage", &format!("small=1,{big}"))]);
    assert_eq!(cx.baggage().len(), 2, "4005 bytes are read");
    let mut out = HeaderMap::new();
    Propagator::default().inject_headers(&cx, &mut out);
    assert_eq!(out["baggage"], "small=1", "12 000 bytes encoded: left out");
}

#[test]
fn oversized_baggage_is_dropped() {
    let huge = format!("k={}", "v".repeat(9000));
    let cx = extract(&[("baggage", &huge)]);
    assert_eq!(cx.baggage().len(), 0);
}

#[test]
fn correlation_id_is_read_validated_and_injected() {
    let cx = extract(&[("x-trace-id", "abc-123")]);
    assert_eq!(
        cx.correlation().map(|c| c.as_str().to_owned()).as_deref(),
        Some("abc-123")
    );
    let cx = extract(&[("x-request-id", "req-9")]);
    assert_eq!(
        cx.correlation().map(|c| c.as_str().to_owned()).as_deref(),
        Some("req-9")
    );
    let cx = extract(&[("x-trace-id", "bad\"id")]);
    assert_eq!(cx.correlation_id(), None, "hostile ids are not taken");
    // Equal to the incoming trace id: implied by the trace, not stored.
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let cx = extract(&[
        ("traceparent", tp),
        ("x-trace-id", "0af7651916cd43dd8448eb211c80319c"),
    ]);
    assert_eq!(cx.stored_correlation_id(), None);
    assert_eq!(
        cx.correlation().map(|c| c.as_str().to_owned()).as_deref(),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    // With a trace and no id, the trace id is injected as the id...
    let mut out = HeaderMap::new();
    Propagator::default().inject_headers(&extract(&[("traceparent", tp)]), &mut out);
    assert_eq!(out["x-trace-id"], "0af7651916cd43dd8448eb211c80319c");
    // ...unless implied ids are left to `traceparent`; a stored id still goes.
    let compact = Propagator::default().with_implied_correlation(false);
    let mut out = HeaderMap::new();
    compact.inject_headers(&extract(&[("traceparent", tp)]), &mut out);
    assert!(out.get("x-trace-id").is_none(), "{out:?}");
    assert!(out.get("traceparent").is_some());
    let mut map = HashMap::new();
    compact.inject_context(&extract(&[("traceparent", tp)]), &mut map);
    assert!(!map.contains_key("x-trace-id"), "{map:?}");
    let back = compact.extract_with_context(&Context::new(), &map);
    assert_eq!(
        back.correlation().map(|c| c.as_str().to_owned()).as_deref(),
        Some("0af7651916cd43dd8448eb211c80319c"),
        "the receiver reads it from traceparent"
    );
    let mut out = HeaderMap::new();
    compact.inject_headers(
        &extract(&[("traceparent", tp), ("x-trace-id", "order-7")]),
        &mut out,
    );
    assert_eq!(out["x-trace-id"], "order-7");
    let mut out = HeaderMap::new();
    Propagator::default().inject_headers(&extract(&[("x-trace-id", "abc-123")]), &mut out);
    assert_eq!(out["x-trace-id"], "abc-123");
}

#[test]
fn correlation_header_name_is_configurable() {
    let p = Propagator::default()
        .with_correlation_header(Some(HeaderName::from_static("x-correlation-id")));
    let cx = p.extract_headers_with_context(
        &Context::new(),
        &headers(&[("x-correlation-id", "c1"), ("x-trace-id", "t1")]),
    );
    assert_eq!(
        cx.correlation().map(|c| c.as_str().to_owned()).as_deref(),
        Some("c1")
    );
    assert_eq!(
        p.fields().collect::<Vec<_>>(),
        ["traceparent", "tracestate", "baggage", "x-correlation-id"]
    );
}

#[test]
fn dyn_extractor_path_reads_all_values() {
    struct Multi(Vec<(&'static str, String)>);
    impl Extractor for Multi {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_str())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| *k).collect()
        }
        fn get_all(&self, key: &str) -> Option<Vec<&str>> {
            Some(
                self.0
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, v)| v.as_str())
                    .collect(),
            )
        }
    }
    let other = "12345678901234567890123456789011";
    let carrier = Multi(vec![("traceparent", tp(TID)), ("traceparent", tp(other))]);
    let cx = Propagator::default().extract_with_context(&Context::new(), &carrier);
    assert_eq!(trace_id(&cx), None);
    let carrier = Multi(vec![
        ("traceparent", tp(TID)),
        ("tracestate", "a=1".into()),
        ("tracestate", "b=2".into()),
    ]);
    let cx = Propagator::default().extract_with_context(&Context::new(), &carrier);
    assert_eq!(cx.span().span_context().trace_state().header(), "a=1,b=2");
}

fn arb_context() -> impl Strategy<Value = SpanContext> {
    (
        1u128..,
        1u64..,
        0u8..4,
        proptest::collection::vec(("[a-z][a-z0-9_*/-]{0,8}", "[!-+\\--<>-~]{1,8}"), 0..5),
    )
        .prop_map(|(t, s, f, kv)| {
            let mut seen = std::collections::HashSet::new();
            let kv: Vec<_> = kv
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .collect();
            let state = TraceState::from_key_value(kv).unwrap();
            SpanContext::new(
                TraceId::from(t),
                SpanId::from(s),
                TraceFlags::new(f),
                true,
                state,
            )
        })
}

proptest! {
    #[test]
    fn extract_of_inject_is_identity(sc in arb_context(), id in "[A-Za-z0-9._:/+=@-]{1,40}") {
        let corr = CorrelationId::parse(&id).unwrap();
        let cx = Context::new().with_remote_span_context(sc.clone()).with_correlation_id(corr.clone());
        let p = Propagator::default();
        let mut out = HeaderMap::new();
        p.inject_headers(&cx, &mut out);
        let back = p.extract_headers_with_context(&Context::new(), &out);
        prop_assert_eq!(back.span().span_context().clone(), sc.clone());
        prop_assert_eq!(back.correlation_id(), Some(corr.clone()));

        let mut map = HashMap::new();
        p.inject_context(&cx, &mut map);
        let back = p.extract_with_context(&Context::new(), &map);
        prop_assert_eq!(back.span().span_context().clone(), sc.clone());
    }

    #[test]
    fn no_input_panics(tp in "\\PC{0,80}", ts in "\\PC{0,80}", raw in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = Traceparent::parse(&tp);
        let _ = parse_tracestate([ts.as_str()]);
        let mut map = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&raw) {
            map.append(TRACEPARENT, v.clone());
            map.append(TRACESTATE, v.clone());
            map.append(BAGGAGE, v.clone());
            map.append(HeaderName::from_static(X_TRACE_ID), v);
        }
        if let Ok(v) = HeaderValue::from_str(&tp) {
            map.append(TRACEPARENT, v);
        }
        let cx = Propagator::default().extract_headers_with_context(&Context::new(), &map);
        let mut out = HeaderMap::new();
        Propagator::default().inject_headers(&cx, &mut out);
    }
}

/// The one-pass scan of a small map finds what one look-up per field finds
/// (the trait's own `scan`), for every mix of the fields it looks for.
#[test]
fn the_one_pass_scan_finds_what_look_ups_find() {
    struct ByLookup<'a>(&'a HeaderMap);
    impl Carrier for ByLookup<'_> {
        fn values<'a>(&'a self, key: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> {
            Carrier::values(self.0, key)
        }
        fn first(&self, key: &HeaderName) -> Option<&[u8]> {
            Carrier::first(self.0, key)
        }
    }
    let fields: [(&str, &str); 8] = [
        ("traceparent", "a"),
        ("traceparent", "b"),
        ("tracestate", "k=v"),
        ("baggage", "k=v"),
        ("x-trace-id", "order-1"),
        ("x-request-id", "req-1"),
        ("x-corr", "c-1"),
        ("user-agent", "ua"),
    ];
    let custom = HeaderName::from_static("x-corr");
    let trace_id = HeaderName::from_static("x-trace-id");
    for mask in 0u32..(1 << fields.len()) {
        for filler in [0, 30] {
            let mut h = HeaderMap::new();
            h.insert("host", HeaderValue::from_static("h"));
            for i in 0..filler {
                h.append(
                    HeaderName::try_from(format!("x-filler-{i}")).unwrap(),
                    HeaderValue::from_static("f"),
                );
            }
            for (i, (name, value)) in fields.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    h.append(*name, HeaderValue::from_static(value));
                }
            }
            for correlation in [None, Some(&trace_id), Some(&custom)] {
                assert_eq!(
                    h.scan(correlation),
                    ByLookup(&h).scan(correlation),
                    "fields {mask:#b}, {filler} others, correlation {correlation:?}"
                );
            }
        }
    }
}
