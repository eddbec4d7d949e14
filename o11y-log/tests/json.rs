//! The JSON layer's lines: shape, ids of the current span in every situation
//! the issue lists, hostile values and reserved keys.

mod support;

use o11y_core::{CorrelationContextExt, CorrelationId};
use opentelemetry::{
    Context,
    trace::{TraceContextExt, Tracer, TracerProvider as _},
};
use serde_json::json;
use support::{Output, setup, str_at, subscriber};
use tracing::instrument::WithSubscriber as _;
use tracing_subscriber::layer::SubscriberExt;

fn ids(cx: &Context) -> (String, String) {
    let span = cx.span();
    let sc = span.span_context();
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

#[test]
fn a_line_has_the_header_fields_and_no_ids_outside_any_span() {
    let (_capture, provider, out) = setup();
    tracing::subscriber::with_default(subscriber(&provider, &out), || {
        tracing::warn!(target: "shop", order_id = 42, user = "ann", paid = true, ratio = 0.5, "order placed");
    });
    assert_eq!(
        out.line(),
        json!({
            "timestamp": support::FIXED,
            "level": "WARN",
            "target": "shop",
            "service": "svc",
            "message": "order placed",
            "order_id": 42,
            "user": "ann",
            "paid": true,
            "ratio": 0.5,
        })
    );
}

#[test]
fn ids_are_those_of_an_otel_span_attached_as_context() {
    let (capture, provider, out) = setup();
    let tracer = provider.tracer("http");
    let correlation = CorrelationId::parse("req-7").unwrap();
    let expected = tracing::subscriber::with_default(subscriber(&provider, &out), || {
        let span = tracer.start("GET /orders");
        let cx = Context::current_with_span(span).with_correlation_id(correlation);
        let _attached = cx.clone().attach();
        tracing::info!("handling");
        ids(&cx)
    });
    let line = out.line();
    assert_eq!(str_at(&line, "trace_id"), Some(expected.0.as_str()));
    assert_eq!(str_at(&line, "span_id"), Some(expected.1.as_str()));
    assert_eq!(str_at(&line, "correlation_id"), Some("req-7"));
    let spans = capture.wait_for(1);
    assert_eq!(spans.find("GET /orders").span_id().to_string(), expected.1);
}

#[tracing::instrument]
fn outer() {
    tracing::info!("in outer");
    inner(3);
}

#[tracing::instrument]
fn inner(n: u32) {
    tracing::info!(step = n, "in inner");
}

#[test]
fn ids_are_those_of_the_innermost_instrument_span() {
    let (capture, provider, out) = setup();
    tracing::subscriber::with_default(subscriber(&provider, &out), outer);
    let spans = capture.wait_for(2);
    let trace = spans.assert_single_trace().to_string();
    spans.assert_parent("inner", "outer");
    let lines = out.lines();
    assert_eq!(lines.len(), 2);
    for (line, name) in lines.iter().zip(["outer", "inner"]) {
        assert_eq!(str_at(line, "trace_id"), Some(trace.as_str()));
        let span_id = spans.find(name).span_id().to_string();
        assert_eq!(str_at(line, "span_id"), Some(span_id.as_str()), "{line}");
        assert_eq!(line["span"]["name"], name);
    }
    assert_eq!(lines[1]["span"]["n"], 3);
    assert_eq!(lines[1]["step"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_follow_a_task_moved_across_threads() {
    use tracing::Instrument as _;
    let (capture, provider, out) = setup();
    let dispatch = tracing::Dispatch::new(subscriber(&provider, &out));
    let test_thread = std::thread::current().id();
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("job"));
    let task = async move {
        tracing::info!("first");
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        tracing::info!("second");
        std::thread::current().id()
    };
    let worker = tokio::spawn(task.instrument(span).with_subscriber(dispatch))
        .await
        .unwrap();
    assert_ne!(worker, test_thread, "the task ran on a runtime worker");
    let spans = capture.wait_for(1);
    let job = spans.find("job");
    let lines = out.lines();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(
            str_at(line, "trace_id"),
            Some(job.trace_id().to_string().as_str())
        );
        assert_eq!(
            str_at(line, "span_id"),
            Some(job.span_id().to_string().as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_follow_a_task_carrying_an_otel_context() {
    use opentelemetry::context::FutureExt as _;
    let (_capture, provider, out) = setup();
    let dispatch = tracing::Dispatch::new(subscriber(&provider, &out));
    let cx = Context::new()
        .with_span(provider.tracer("queue").start("process orders"))
        .with_correlation_id(CorrelationId::parse("msg-1").unwrap());
    let expected = ids(&cx);
    let task = async {
        tokio::task::yield_now().await;
        tracing::info!("consumed");
    };
    tokio::spawn(task.with_context(cx).with_subscriber(dispatch))
        .await
        .unwrap();
    let line = out.line();
    assert_eq!(str_at(&line, "trace_id"), Some(expected.0.as_str()));
    assert_eq!(str_at(&line, "span_id"), Some(expected.1.as_str()));
    assert_eq!(str_at(&line, "correlation_id"), Some("msg-1"));
}

#[test]
fn without_the_otel_layer_tracing_spans_carry_no_ids() {
    let out = Output::default();
    let subscriber = tracing_subscriber::registry().with(support::json_layer(&out));
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("plain").entered();
        tracing::info!("no ids");
    });
    let line = out.line();
    assert_eq!(line.get("trace_id"), None);
    assert_eq!(line.get("span_id"), None);
    assert_eq!(line.get("span"), None, "current span is off by default");
}

#[test]
fn the_current_span_shows_fields_recorded_later() {
    let (_capture, provider, out) = setup();
    tracing::subscriber::with_default(subscriber(&provider, &out), || {
        let span = tracing::info_span!("login", user = tracing::field::Empty, attempt = 1);
        let _entered = span.enter();
        span.record("user", "ann");
        tracing::info!("logged in");
    });
    assert_eq!(
        out.line()["span"],
        json!({"name": "login", "attempt": 1, "user": "ann"})
    );
}

#[test]
fn reserved_keys_are_never_overwritten() {
    let (capture, provider, out) = setup();
    tracing::subscriber::with_default(subscriber(&provider, &out), || {
        let _span = tracing::info_span!("checkout", name = "shadow").entered();
        tracing::info!(
            trace_id = "evil",
            span_id = 1,
            correlation_id = "x",
            timestamp = "then",
            level = "LOUD",
            target = "elsewhere",
            service = "other",
            span = "mine",
            "collisions"
        );
    });
    let spans = capture.wait_for(1);
    let line = out.line();
    let span = spans.find("checkout");
    assert_eq!(
        str_at(&line, "trace_id"),
        Some(span.trace_id().to_string().as_str())
    );
    assert_eq!(
        str_at(&line, "span_id"),
        Some(span.span_id().to_string().as_str())
    );
    // No id stored: the trace id is the correlation id, not the field's "x".
    assert_eq!(
        str_at(&line, "correlation_id"),
        Some(span.trace_id().to_string().as_str())
    );
    assert_eq!(line["timestamp"], support::FIXED);
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["target"], "json");
    assert_eq!(line["service"], "svc");
    assert_eq!(
        line["span"],
        json!({"name": "checkout", "field_name": "shadow"})
    );
    assert_eq!(line["field_trace_id"], "evil");
    assert_eq!(line["field_span_id"], 1);
    assert_eq!(line["field_correlation_id"], "x");
    assert_eq!(line["field_timestamp"], "then");
    assert_eq!(line["field_level"], "LOUD");
    assert_eq!(line["field_target"], "elsewhere");
    assert_eq!(line["field_service"], "other");
    assert_eq!(line["field_span"], "mine");
}
