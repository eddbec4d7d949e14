//! Section C of the scenario set: what users' callers and infrastructure
//! send, and what happens when the collector or the process goes away.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use o11y::opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{BatchSpanProcessor, SpanData, SpanExporter},
};
use o11y::{
    opentelemetry::trace::{
        SpanId, SpanKind, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
    },
    queue::{MemoryTransport, Message, Transport as _, semconv},
};
use patterns::{Config, Telemetry, service_c};
use support::{Trace, get, start};

const SERVER: SpanKind = SpanKind::Server;
const T1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2: &str = "0af7651916cd43dd8448eb211c80319c";
const S1: &str = "00f067aa0ba902b7";
const S2: &str = "b7ad6b7169203331";

fn traceparent(trace: &str, span: &str) -> String {
    format!("00-{trace}-{span}-01")
}

/// `GET {b}/process` with `headers`; B's trace once its span ended.
async fn at_b(stack: &support::Stack, headers: &[(&str, &str)]) -> (support::Answer, Trace) {
    let answer = get(&format!("{}/process", stack.b), headers).await;
    assert_eq!(answer.status, 200, "served normally: {}", answer.body);
    let trace = Trace::wait(&stack.capture, "service-b", &answer.correlation_id(), 1);
    (answer, trace)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_no_traceparent_starts_a_new_root_trace() {
    let stack = start().await;
    let (answer, trace) = at_b(&stack, &[]).await;
    let b = trace.one("service-b", SERVER, "GET /process");
    trace.assert_root(b);
    assert_eq!(answer.correlation_id(), trace.id.to_string());
    assert_ne!(trace.id, TraceId::INVALID);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2_malformed_traceparent_starts_a_new_root_trace() {
    let stack = start().await;
    let malformed = [
        format!("00-{T1}-{S1}"),                             // no flags
        format!("00-{}-{S1}-01", &T1[1..]),                  // short trace id
        format!("00-{T1}-{S1}0-01"),                         // long span id
        traceparent(&T1.to_uppercase(), S1),                 // uppercase
        format!("ff-{T1}-{S1}-01"),                          // version ff
        traceparent("00000000000000000000000000000000", S1), // zero trace id
        traceparent(T1, "0000000000000000"),                 // zero span id
        format!("00_{T1}_{S1}_01"),                          // wrong separators
        "garbage".to_owned(),
    ];
    for value in &malformed {
        let (_, trace) = at_b(&stack, &[("traceparent", value)]).await;
        let b = trace.one("service-b", SERVER, "GET /process");
        trace.assert_root(b);
        assert_ne!(trace.id.to_string(), T1, "{value}: not continued");
        assert!(b.event_names().is_empty(), "{value}: {:?}", b.event_names());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_repeated_traceparent_with_one_trace_id_continues_it() {
    let stack = start().await;
    for (i, form) in ["two headers", "the same header twice", "comma-joined"]
        .iter()
        .enumerate()
    {
        let t = format!("{}{i}", &T1[..31]);
        let (a, b) = (traceparent(&t, S1), traceparent(&t, S2));
        let joined = format!("{a},{b}");
        let headers: &[(&str, &str)] = match i {
            0 => &[("traceparent", &a), ("traceparent", &b)],
            1 => &[("traceparent", &a), ("traceparent", &a)],
            _ => &[("traceparent", &joined)],
        };
        let (answer, trace) = at_b(&stack, headers).await;
        assert_eq!(trace.id.to_string(), t, "{form}");
        assert_eq!(answer.correlation_id(), t);
        let span = trace.one("service-b", SERVER, "GET /process");
        let parent = span.parent_id();
        assert!(
            parent == SpanId::from_hex(S1).unwrap() || parent == SpanId::from_hex(S2).unwrap(),
            "{form}: parent {parent}"
        );
        let event = span
            .event("traceparent.cleaned")
            .expect("the cleaning is recorded");
        let conflicting = event
            .iter()
            .find(|kv| kv.key.as_str() == "traceparent.conflicting")
            .map(|kv| kv.value.to_string());
        assert_eq!(conflicting.as_deref(), Some("false"), "{form}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_repeated_traceparent_with_two_trace_ids_restarts_the_trace() {
    let stack = start().await;
    let (a, b) = (traceparent(T1, S1), traceparent(T2, S2));
    let (_, trace) = at_b(&stack, &[("traceparent", &a), ("traceparent", &b)]).await;
    let span = trace.one("service-b", SERVER, "GET /process");
    trace.assert_root(span);
    assert!(![T1, T2].contains(&trace.id.to_string().as_str()));
    let event = span
        .event("traceparent.cleaned")
        .expect("the restart is recorded");
    let conflicting = event
        .iter()
        .find(|kv| kv.key.as_str() == "traceparent.conflicting")
        .map(|kv| kv.value.to_string());
    assert_eq!(conflicting.as_deref(), Some("true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c5_tracestate_is_combined_trimmed_or_dropped() {
    let stack = start().await;
    let parent = traceparent(T1, S1);
    let long_member = |i: usize| format!("k{i}={}", "v".repeat(100));
    let oversized: Vec<String> = (0..8).map(long_member).collect();
    let oversized = oversized.join(",");
    let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
    let too_many = too_many.join(",");
    let cases: [(&[&str], &str); 4] = [
        (
            &["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"],
            "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        ),
        (&[&oversized], ""),
        (&[&too_many], ""),
        (&["congo=ok,=invalid"], ""),
    ];
    for (i, (values, expected)) in cases.into_iter().enumerate() {
        let mut headers = vec![("traceparent", parent.as_str())];
        headers.extend(values.iter().map(|v| ("tracestate", *v)));
        // A continues the trace and sends the state on to B.
        let answer = get(&format!("{}/call/b", stack.a), &headers).await;
        assert_eq!(answer.status, 200, "case {i}: {}", answer.body);
        let trace = Trace::of(&stack.capture, TraceId::from_hex(T1).unwrap(), 3 * (i + 1));
        let b = trace.all("service-b", SERVER, "GET /process");
        let received = b.last().unwrap().data.span_context.trace_state().header();
        if i == 1 {
            // Trimmed: at most 512 characters, members kept from the front.
            assert!(
                received.len() <= 512 && received.starts_with("k0="),
                "{received}"
            );
            assert!(!received.contains("k7="), "{received}");
        } else {
            assert_eq!(received, expected, "case {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c6_hostile_x_trace_id_is_replaced_and_logs_stay_json() {
    let stack = start().await;
    let huge = "a".repeat(10 * 1024);
    let hostile: [&[u8]; 4] = [
        b"\"}, {\"injected\": true",
        b"tab\there",
        huge.as_bytes(),
        b"bytes-\xff\xfe",
    ];
    for value in hostile {
        let header = http::HeaderValue::from_bytes(value).unwrap();
        let answer = reqwest::Client::new()
            .get(format!("{}/a/sequential", stack.edge))
            .header("x-trace-id", header)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let echoed = answer.headers()["x-trace-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed.as_bytes(), value);
        assert!(echoed.len() == 32 && echoed.bytes().all(|b| b.is_ascii_hexdigit()));
        let trace = Trace::wait(&stack.capture, "edge", &echoed, 7);
        assert_eq!(
            echoed,
            trace.id.to_string(),
            "the replacement is the trace id"
        );
        // Every line parses as one JSON object (`parsed` panics otherwise).
        let lines = support::logs().of_trace(trace.id);
        assert!(lines.len() >= 4, "{lines:?}");
        assert!(lines.iter().all(|l| l["correlation_id"] == echoed.as_str()));
    }
    let text = support::logs().text();
    assert!(
        !text.contains("injected"),
        "the hostile value never reaches a log line"
    );
    assert!(!text.contains(&huge[..1024]));
}

/// Service B exporting over OTLP to `endpoint`; `n` requests; the guard.
async fn serve_while_collector(endpoint: String, n: usize) -> (o11y::Guard, usize) {
    let vars = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        ("OTEL_METRICS_EXPORTER", "prometheus".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ];
    let guard = o11y::builder("service-b")
        .install_subscriber(false)
        .env_lookup(move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        listen: addr,
        telemetry: Telemetry::with_tracer_provider(guard.tracer_provider().unwrap()),
        ..Config::from_lookup(0, |_| None).unwrap()
    };
    tokio::spawn(async move { axum::serve(listener, patterns::service_b::router(&config)).await });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/process");
    let mut served = 0;
    for _ in 0..n / 32 {
        let batch = (0..32).map(|_| client.get(&url).send());
        for answer in futures_util::future::join_all(batch).await {
            served += usize::from(answer.is_ok_and(|a| a.status() == 200));
        }
    }
    (guard, served)
}

/// The spans the guard counted as dropped so far (`o11y.telemetry.dropped`,
/// every reason), read from its Prometheus exposition.
fn dropped_spans(guard: &o11y::Guard) -> u64 {
    let text = guard.prometheus().expect("metrics on Prometheus").render();
    text.lines()
        .filter(|l| {
            l.starts_with("o11y_telemetry_dropped_total{") && l.contains(r#"signal="spans""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c7_collector_down_changes_nothing_for_requests_and_drops_are_counted() {
    // Refused: every export fails at once; requests do not notice.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = refused.local_addr().unwrap().port();
    drop(refused);
    let (guard, served) = serve_while_collector(format!("http://127.0.0.1:{port}"), 640).await;
    assert_eq!(
        served, 640,
        "every request served with the collector refusing"
    );
    let _ = guard.shutdown_within(Duration::from_secs(2));

    // A black hole (the handshake completes, nothing is ever read): the
    // exporter waits on its first batch, the bounded queue fills, and the
    // spans beyond it are dropped and counted, not held in memory.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let n = 3200; // more than a batch (512) and the queue (2048)
    let (guard, served) = serve_while_collector(format!("http://127.0.0.1:{port}"), n).await;
    assert_eq!(served, n, "every request served with the collector silent");
    let dropped = dropped_spans(&guard);
    assert!(dropped > 0 && dropped <= n as u64, "dropped {dropped}");
    let _ = guard.shutdown_within(Duration::from_secs(1));
    drop(hole);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c8_messages_without_usable_context_start_new_traces_and_are_not_lost() {
    let stack = start().await;
    let transport = MemoryTransport::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = {
        let (transport, config) = (transport.clone(), stack.c_config.clone());
        tokio::spawn(async move {
            service_c::consume_jobs(transport, &config, async {
                let _ = stopped.await;
            })
            .await;
        })
    };
    let queue = stack.c_config.jobs_queue.clone();
    let jobs: [&[u8]; 3] = [
        b"{\"job\":\"from a producer without tracing\"}",
        b"o11y-envelope/1\n{not json\n{\"job\":\"corrupt envelope\"}",
        b"o11y-envelope/1\n{\"traceparent\":\"00-zz-zz-01\"}\n{\"job\":\"bad context\"}",
    ];
    for job in jobs {
        transport
            .publish(&queue, Message::new(job.to_vec()))
            .await
            .unwrap();
    }
    // And one published with context, for contrast.
    let provider = stack.capture.provider("producer");
    let producer = Telemetry::with_tracer_provider(provider.clone()).producer(transport.clone());
    let tracer = provider.tracer("test");
    let span = tracer.start("publish job");
    let cx = o11y::opentelemetry::Context::new().with_span(span);
    let traced = cx.span().span_context().trace_id();
    producer
        .publish_with_context(&cx, &queue, "{\"job\":\"traced\"}")
        .await
        .unwrap();
    let consumed = support::wait_until(&stack.capture, |s| {
        s.iter().filter(|s| s.kind() == SpanKind::Consumer).count() == 4
    });
    let _ = stop.send(());
    consumer.await.unwrap();
    let spans: Vec<_> = consumed
        .iter()
        .filter(|s| s.kind() == SpanKind::Consumer)
        .collect();
    assert_eq!(spans.len(), 4, "{}", consumed.render_tree());
    let (mut processed, mut kept) = (Vec::new(), Vec::new());
    for span in &spans {
        assert_eq!(span.name(), "process jobs");
        assert_eq!(span.service(), "service-c");
        let outcome = span.attr_str(semconv::OUTCOME);
        if span.trace_id() == traced {
            assert_eq!(span.parent_id(), consumed.find("send jobs").span_id());
            assert_eq!(outcome.as_deref(), Some("ack"));
            continue;
        }
        assert_eq!(span.parent_id(), SpanId::INVALID, "a new trace");
        match outcome.as_deref() {
            Some("ack") => processed.push(span.trace_id()),
            // The library's choice for an envelope it cannot read: into the
            // dead letters at once, with the reason on the span.
            Some("dead_letter") => {
                assert!(
                    span.event_names()
                        .contains(&semconv::EVENT_CORRUPT_ENVELOPE)
                );
                kept.push(span.trace_id());
            }
            other => panic!("unexpected outcome {other:?}:\n{}", consumed.render_tree()),
        }
    }
    assert_eq!(processed.len(), 2, "{}", consumed.render_tree());
    assert_eq!(kept.len(), 1, "{}", consumed.render_tree());
    assert!(processed[0] != processed[1] && !processed.contains(&kept[0]));
    assert!(transport.is_empty(&queue));
    assert_eq!(transport.len(&format!("{queue}.dlq")), 1, "not lost");
    let new_traces = processed;
    for trace in new_traces.iter().chain([&traced]) {
        let lines = support::logs().of_trace(*trace);
        assert!(
            lines.iter().any(|l| l["message"] == "job processed"),
            "{trace}: {lines:?}"
        );
    }
}

/// Keeps what the batch processor exports, through its shutdown.
#[derive(Clone, Debug, Default)]
struct Exported(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Exported {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.0.lock().unwrap().extend(batch);
        std::future::ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c9_spans_in_flight_are_flushed_on_shutdown() {
    support::logs();
    let exporter = Exported::default();
    let batch = BatchSpanProcessor::builder(exporter.clone()).build();
    let none = |n: &str| n.ends_with("_EXPORTER").then(|| "none".to_owned());
    let guard = o11y::builder("service-c")
        .install_subscriber(false)
        .env_lookup(none)
        .with_span_processor(batch)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        listen: addr,
        telemetry: Telemetry::with_tracer_provider(guard.tracer_provider().unwrap()),
        ..Config::from_lookup(0, |_| None).unwrap()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, service_c::router(&config))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let request = tokio::spawn(
        reqwest::Client::new()
            .get(format!("http://{addr}/process?delay_ms=300"))
            .header("x-trace-id", "c9-in-flight")
            .send(),
    );
    // The request is in the handler: its first log line is written.
    let deadline = Instant::now() + support::WAIT;
    let started = || {
        support::logs()
            .parsed()
            .iter()
            .any(|l| l["correlation_id"] == "c9-in-flight" && l["message"] == "processing")
    };
    while !started() && Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    assert!(started(), "the request reached the handler");
    let _ = stop.send(()); // SIGTERM's part: stop accepting, finish what is in flight
    let answer = request.await.unwrap().unwrap();
    assert_eq!(answer.status(), 200, "the request in flight is answered");
    server.await.unwrap().unwrap();
    guard.shutdown().unwrap();
    let exported = exporter.0.lock().unwrap().clone();
    let span = exported
        .iter()
        .find(|s| s.name == "GET /process")
        .unwrap_or_else(|| panic!("the span is flushed: {exported:?}"));
    let correlation = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "correlation.id")
        .map(|kv| kv.value.to_string());
    assert_eq!(correlation.as_deref(), Some("c9-in-flight"));
}
