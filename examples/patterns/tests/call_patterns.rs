//! Section B of the scenario set: call patterns between A, B and C behind
//! the edge, each asserted on the captured span tree and log lines.

mod support;

use o11y::{opentelemetry::trace::SpanKind, testing::CapturedSpan};
use support::{Stack, Trace, attr_count, errored, exceptions, get, overlap, start, status_code};

const SERVER: SpanKind = SpanKind::Server;
const CLIENT: SpanKind = SpanKind::Client;

/// Whether a CLIENT span called `base`.
fn calls(span: &CapturedSpan, base: &str) -> bool {
    span.attr_str("url.full")
        .is_some_and(|url| url.starts_with(base))
}

/// `GET {edge}{path}`, then its trace once `n` spans have ended.
async fn through_edge(stack: &Stack, path: &str, n: usize) -> (support::Answer, Trace) {
    let answer = get(&format!("{}{path}", stack.edge), &[]).await;
    let trace = Trace::wait(&stack.capture, "edge", &answer.correlation_id(), n);
    (answer, trace)
}

/// The edge's two spans and the entry SERVER span of `service` below them.
fn entry<'t>(trace: &'t Trace, service: &str, name: &str) -> &'t CapturedSpan {
    let edge = trace.one("edge", SERVER, &format!("GET /{}/{{*path}}", &service[8..]));
    trace.assert_root(edge);
    let proxy = trace.one("edge", CLIENT, "GET");
    trace.assert_parent(proxy, edge);
    let server = trace.one(service, SERVER, name);
    trace.assert_parent(server, proxy);
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_parallel_calls_overlap_as_children_of_a() {
    let stack = start().await;
    let (answer, trace) = through_edge(&stack, "/a/parallel", 7).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(trace.spans.len(), 7, "{}", trace.tree());
    let a = entry(&trace, "service-a", "GET /parallel");
    let calls_of_a = trace.children(a);
    assert_eq!(calls_of_a.len(), 2, "{}", trace.tree());
    let (to_b, to_c) = match calls(calls_of_a[0], &stack.b) {
        true => (calls_of_a[0], calls_of_a[1]),
        false => (calls_of_a[1], calls_of_a[0]),
    };
    assert!(
        calls(to_b, &stack.b) && calls(to_c, &stack.c),
        "{}",
        trace.tree()
    );
    assert!(
        overlap(to_b, to_c),
        "parallel calls must overlap:\n{}",
        trace.tree()
    );
    trace.assert_parent(trace.one("service-b", SERVER, "GET /process"), to_b);
    trace.assert_parent(trace.one("service-c", SERVER, "GET /process"), to_c);
    assert!(trace.spans.iter().all(|s| !errored(s)), "{}", trace.tree());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b2_sequential_calls_are_ordered_siblings() {
    let stack = start().await;
    let (answer, trace) = through_edge(&stack, "/a/sequential", 7).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let a = entry(&trace, "service-a", "GET /sequential");
    let calls_of_a = trace.children(a);
    assert_eq!(calls_of_a.len(), 2, "{}", trace.tree());
    let (first, second) = (calls_of_a[0], calls_of_a[1]);
    assert!(
        calls(first, &stack.b) && calls(second, &stack.c),
        "{}",
        trace.tree()
    );
    assert!(
        first.data.end_time <= second.data.start_time,
        "C is called after B answered:\n{}",
        trace.tree()
    );
    trace.assert_parent(trace.one("service-b", SERVER, "GET /process"), first);
    trace.assert_parent(trace.one("service-c", SERVER, "GET /process"), second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_circular_c_to_a_shows_c_twice_in_one_trace() {
    let stack = start().await;
    let (answer, trace) = through_edge(&stack, "/c/circular", 7).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(trace.spans.len(), 7, "{}", trace.tree());
    let c = entry(&trace, "service-c", "GET /circular");
    let c_calls_a = trace.one("service-c", CLIENT, "GET /call/c");
    trace.assert_parent(c_calls_a, c);
    let a = trace.one("service-a", SERVER, "GET /call/c");
    trace.assert_parent(a, c_calls_a);
    let a_calls_c = trace.one("service-a", CLIENT, "GET /process");
    trace.assert_parent(a_calls_c, a);
    trace.assert_parent(trace.one("service-c", SERVER, "GET /process"), a_calls_c);
    let c_servers = trace
        .spans
        .iter()
        .filter(|s| s.service() == "service-c" && s.kind() == SERVER);
    assert_eq!(c_servers.count(), 2, "{}", trace.tree());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b4_circular_b_to_a_is_one_trace() {
    let stack = start().await;
    let (answer, trace) = through_edge(&stack, "/b/circular", 7).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    trace.spans.assert_single_trace();
    let b = entry(&trace, "service-b", "GET /circular");
    let b_calls_a = trace.one("service-b", CLIENT, "GET /call/b");
    trace.assert_parent(b_calls_a, b);
    let a = trace.one("service-a", SERVER, "GET /call/b");
    trace.assert_parent(a, b_calls_a);
    let a_calls_b = trace.one("service-a", CLIENT, "GET /process");
    trace.assert_parent(trace.one("service-b", SERVER, "GET /process"), a_calls_b);
    // Nothing of this request started a trace of its own.
    assert_eq!(stack.capture.spans().trace_ids(), vec![trace.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b5_duplicated_traceparent_at_c_is_cleaned_to_one_trace() {
    let stack = start().await;
    let (answer, trace) = through_edge(&stack, "/b/duplicate", 5).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(stack.capture.spans().trace_ids(), vec![trace.id]);
    let b = entry(&trace, "service-b", "GET /duplicate");
    let b_calls_c = trace.one("service-b", CLIENT, "GET /process");
    trace.assert_parent(b_calls_c, b);
    let c = trace.one("service-c", SERVER, "GET /process");
    trace.assert_parent(c, b_calls_c);
    let cleaned = c
        .event("traceparent.cleaned")
        .unwrap_or_else(|| panic!("C's span records the cleaning:\n{}", trace.tree()));
    let value = |key: &str| {
        cleaned
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(value("traceparent.values").as_deref(), Some("2"));
    assert_eq!(value("traceparent.conflicting").as_deref(), Some("false"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b6_timeout_is_an_error_on_the_client_span() {
    let stack = start().await;
    // A's call to C times out; C's own span ends later and is not waited for.
    let (answer, trace) = through_edge(&stack, "/a/timeout", 6).await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    let a = entry(&trace, "service-a", "GET /timeout");
    let calls_of_a = trace.children(a);
    let to_b = calls_of_a
        .iter()
        .find(|s| calls(s, &stack.b))
        .expect("A called B");
    let to_c = calls_of_a
        .iter()
        .find(|s| calls(s, &stack.c))
        .expect("A called C");
    assert!(
        !errored(to_b) && status_code(to_b) == Some(200),
        "{}",
        trace.tree()
    );
    assert!(errored(to_c), "{}", trace.tree());
    assert_eq!(to_c.attr_str("error.type").as_deref(), Some("timeout"));
    assert_eq!(status_code(to_c), None, "no response, no status code");
    assert!(
        errored(a) && status_code(a) == Some(502),
        "{}",
        trace.tree()
    );
    assert_eq!(exceptions(a), ["DependencyError"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b7_partial_failure_gives_mixed_status_siblings() {
    let stack = start().await;
    let (answer, trace) = through_edge(&stack, "/a/partial", 7).await;
    assert_eq!(answer.status, 200, "A degrades: {}", answer.body);
    let a = entry(&trace, "service-a", "GET /partial");
    assert!(!errored(a), "{}", trace.tree());
    let to_b = trace.one("service-a", CLIENT, "GET /process");
    let to_c = trace.one("service-a", CLIENT, "GET /error");
    trace.assert_parent(to_b, a);
    trace.assert_parent(to_c, a);
    assert!(!errored(to_b), "{}", trace.tree());
    assert!(errored(to_c) && to_c.attr_str("error.type").as_deref() == Some("500"));
    let c = trace.one("service-c", SERVER, "GET /error");
    trace.assert_parent(c, to_c);
    assert!(errored(c), "{}", trace.tree());
    assert_eq!(exceptions(c), ["InternalError"]);
    let warned = support::logs()
        .of_trace(trace.id)
        .into_iter()
        .any(|l| l["level"] == "WARN" && l["message"] == "C failed; answering with B's part");
    assert!(warned, "A logs the degraded answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b8_cascade_marks_every_hop_once() {
    let stack = start().await;
    let (answer, trace) = through_edge(&stack, "/a/cascade", 7).await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(trace.spans.len(), 7, "{}", trace.tree());
    let a = entry(&trace, "service-a", "GET /cascade");
    let a_calls_b = trace.one("service-a", CLIENT, "GET /cascade");
    let b = trace.one("service-b", SERVER, "GET /cascade");
    let b_calls_c = trace.one("service-b", CLIENT, "GET /error");
    let c = trace.one("service-c", SERVER, "GET /error");
    trace.assert_parent(a_calls_b, a);
    trace.assert_parent(b, a_calls_b);
    trace.assert_parent(b_calls_c, b);
    trace.assert_parent(c, b_calls_c);
    // Every span of the trace is an error, with exactly one error.type.
    for span in trace.spans.iter() {
        assert!(
            errored(span),
            "{} {} is not an error:\n{}",
            span.service(),
            span.name(),
            trace.tree()
        );
        assert_eq!(
            attr_count(span, "error.type"),
            1,
            "{} {}",
            span.service(),
            span.name()
        );
    }
    assert_eq!(c.attr_str("error.type").as_deref(), Some("500"));
    assert_eq!(b.attr_str("error.type").as_deref(), Some("502"));
    assert_eq!(a.attr_str("error.type").as_deref(), Some("502"));
    // Each service records its own exception once; the edge only passes it on.
    assert_eq!(exceptions(c), ["InternalError"]);
    assert_eq!(exceptions(b), ["DependencyError"]);
    assert_eq!(exceptions(a), ["DependencyError"]);
    assert!(exceptions(trace.one("edge", SERVER, "GET /a/{*path}")).is_empty());
    let errors: Vec<_> = support::logs()
        .of_trace(trace.id)
        .into_iter()
        .filter(|l| l["level"] == "ERROR")
        .collect();
    assert_eq!(
        errors.len(),
        3,
        "one ERROR line per failing service: {errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b9_chain_stops_at_the_failing_step() {
    let stack = start().await;
    for fail_at in 1..=4 {
        let path = format!("/a/chain?fail_at={fail_at}");
        let (answer, trace) = through_edge(&stack, &path, 3 + 2 * fail_at).await;
        assert_eq!(answer.status, 502, "{}", answer.body);
        let a = entry(&trace, "service-a", "GET /chain");
        let steps = trace.children(a);
        assert_eq!(
            steps.len(),
            fail_at,
            "steps after {fail_at} absent:\n{}",
            trace.tree()
        );
        for (i, step) in steps.iter().enumerate() {
            let expected = if i % 2 == 0 { &stack.b } else { &stack.c };
            assert!(
                calls(step, expected),
                "step {} goes to {expected}:\n{}",
                i + 1,
                trace.tree()
            );
            assert_eq!(
                errored(step),
                i + 1 == fail_at,
                "step {}:\n{}",
                i + 1,
                trace.tree()
            );
        }
        assert!(
            steps
                .windows(2)
                .all(|w| w[0].data.end_time <= w[1].data.start_time)
        );
    }
    let (answer, trace) = through_edge(&stack, "/a/chain", 11).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let a = entry(&trace, "service-a", "GET /chain");
    assert_eq!(trace.children(a).len(), 4, "{}", trace.tree());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b10_error_endpoints_map_to_status_span_status_and_exception() {
    let stack = start().await;
    let cases = [
        ("service-b", "/b/error", "/error", 500, "InternalError"),
        ("service-b", "/b/timeout", "/timeout", 504, "TimeoutError"),
        (
            "service-b",
            "/b/db-error",
            "/db-error",
            503,
            "DatabaseError",
        ),
        (
            "service-b",
            "/b/memory-error",
            "/memory-error",
            507,
            "MemoryError",
        ),
        ("service-c", "/c/error", "/error", 500, "InternalError"),
        (
            "service-c",
            "/c/auth-error",
            "/auth-error",
            401,
            "AuthenticationError",
        ),
        (
            "service-c",
            "/c/rate-limit-error",
            "/rate-limit-error",
            429,
            "RateLimitError",
        ),
        (
            "service-c",
            "/c/dependency-error",
            "/dependency-error",
            502,
            "DependencyError",
        ),
    ];
    for (service, path, route, status, exception) in cases {
        let (answer, trace) = through_edge(&stack, path, 3).await;
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(body["error"], exception, "{path}");
        let server = entry(&trace, service, &format!("GET {route}"));
        assert_eq!(status_code(server), Some(i64::from(status)), "{path}");
        // A server span is an error for 5xx only; the caller's for 4xx too.
        assert_eq!(errored(server), status >= 500, "{path}:\n{}", trace.tree());
        assert!(errored(trace.one("edge", CLIENT, "GET")), "{path}");
        assert_eq!(exceptions(server), [exception], "{path}");
        let level = if status >= 500 { "ERROR" } else { "WARN" };
        let lines = support::logs().of_trace(trace.id);
        let logged = lines
            .iter()
            .filter(|l| l["level"] == level && l["error.type"] == exception)
            .count();
        assert_eq!(
            logged, 1,
            "{path}: one {level} line with error.type: {lines:?}"
        );
    }
}

/// Every SERVER span and every log line of `trace` carries `id`.
fn carried_everywhere(trace: &Trace, id: &str) {
    for span in trace.spans.iter().filter(|s| s.kind() == SERVER) {
        assert_eq!(
            span.attr_str("correlation.id").as_deref(),
            Some(id),
            "{} {}:\n{}",
            span.service(),
            span.name(),
            trace.tree()
        );
    }
    let lines = support::logs().of_trace(trace.id);
    assert!(lines.len() >= 4, "edge, A, B and C log: {lines:?}");
    for line in &lines {
        assert_eq!(line["correlation_id"], id, "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b11_x_trace_id_is_assigned_once_at_the_edge_and_carried() {
    let stack = start().await;
    // None comes in: the edge assigns one (the trace id) and echoes it.
    let (answer, trace) = through_edge(&stack, "/a/sequential", 7).await;
    let assigned = answer.correlation_id();
    assert_eq!(assigned, trace.id.to_string());
    carried_everywhere(&trace, &assigned);

    // One comes in: kept, echoed, carried; the trace is still a new one.
    let given = "order-42-7f3a";
    let answer = get(
        &format!("{}/a/sequential", stack.edge),
        &[("x-trace-id", given)],
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.correlation_id(), given);
    let trace = Trace::wait(&stack.capture, "edge", given, 7);
    trace.assert_root(trace.one("edge", SERVER, "GET /a/{*path}"));
    carried_everywhere(&trace, given);
}
