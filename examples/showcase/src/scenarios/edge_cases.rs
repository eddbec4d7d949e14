//! Section C: what callers and infrastructure send, and what happens when
//! the collector or the process goes away.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use futures_util::future::BoxFuture;
use o11y::{
    Guard,
    opentelemetry::{
        Context,
        trace::{
            SpanId, SpanKind, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
        },
    },
    opentelemetry_sdk::{
        error::OTelSdkResult,
        trace::{BatchSpanProcessor, SpanData, SpanExporter},
    },
    queue::{Message, Transport as _, semconv},
    testing::{Capture, CapturedSpan, Spans},
};
use patterns::{Config, Telemetry, service_c};

use super::{Outcome, Scenario, ensure, get, one, only, trace_of, wait_until};
use crate::{Logs, Stack, shape};

const SERVER: SpanKind = SpanKind::Server;
const T1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2: &str = "0af7651916cd43dd8448eb211c80319c";
const S1: &str = "00f067aa0ba902b7";
const S2: &str = "b7ad6b7169203331";

fn traceparent(trace: &str, span: &str) -> String {
    format!("00-{trace}-{span}-01")
}

/// `GET {b}/process` with `headers`; B's one span.
async fn at_b(stack: &Stack, headers: &[(&str, &[u8])]) -> Result<Spans, String> {
    let answer = get(&format!("{}/process", stack.b), headers).await?;
    ensure(answer.status == 200, || {
        format!("not served normally: {}", answer.status)
    })?;
    let spans = trace_of(stack, "service-b", &answer.correlation, 1)?;
    shape::check(&spans, "service-b SERVER GET /process")?;
    Ok(spans)
}

fn cleaned_conflicting(spans: &Spans) -> Result<String, String> {
    let span = one(spans, "service-b", SERVER, "GET /process")?;
    let event = span
        .event("traceparent.cleaned")
        .ok_or("no traceparent.cleaned event")?;
    let conflicting = event
        .iter()
        .find(|kv| kv.key.as_str() == "traceparent.conflicting");
    Ok(conflicting
        .map(|kv| kv.value.to_string())
        .unwrap_or_default())
}

/// Folds a fallible body into an [`Outcome`].
fn settle(result: Result<Outcome, String>) -> Outcome {
    result.unwrap_or_else(Outcome::failed)
}

pub const C1: Scenario = Scenario {
    id: "C1",
    title: "no traceparent",
    proves: "a new root trace",
    run: c1,
};

fn c1<'a>(stack: &'a Stack, _: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let spans = at_b(stack, &[]).await?;
                let root = spans[0].parent_id() == SpanId::INVALID;
                Ok(Outcome::new(
                    spans,
                    vec![],
                    ensure(root, || "not a root".into()),
                ))
            }
            .await,
        )
    })
}

pub const C2: Scenario = Scenario {
    id: "C2",
    title: "malformed traceparent",
    proves: "bad lengths, uppercase, version ff, zero ids: a new root trace, the request served",
    run: c2,
};

fn c2<'a>(stack: &'a Stack, _: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let malformed = [
                    format!("00-{}-{S1}-01", &T1[1..]),
                    traceparent(&T1.to_uppercase(), S1),
                    format!("ff-{T1}-{S1}-01"),
                    traceparent("00000000000000000000000000000000", S1),
                    traceparent(T1, "0000000000000000"),
                ];
                let (mut shown, mut notes) = (Spans::default(), Vec::new());
                for value in &malformed {
                    let spans = at_b(stack, &[("traceparent", value.as_bytes())]).await?;
                    let (span, id) = (&spans[0], spans[0].trace_id());
                    ensure(
                        span.parent_id() == SpanId::INVALID && id.to_string() != T1,
                        || format!("{value} was continued"),
                    )?;
                    notes.push(format!("traceparent {value} -> served, new trace {id}"));
                    shown.0.extend(spans.0);
                }
                Ok(Outcome::new(shown, notes, Ok(())))
            }
            .await,
        )
    })
}

pub const C3: Scenario = Scenario {
    id: "C3",
    title: "two traceparent headers, one trace id",
    proves: "the trace continues; an event records the cleaning",
    run: c3,
};

fn c3<'a>(stack: &'a Stack, _: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let (a, b) = (traceparent(T1, S1), traceparent(T1, S2));
                let spans = at_b(
                    stack,
                    &[("traceparent", a.as_bytes()), ("traceparent", b.as_bytes())],
                )
                .await?;
                let verdict = (|| {
                    ensure(spans[0].trace_id().to_string() == T1, || {
                        "the trace did not continue".into()
                    })?;
                    let parent = spans[0].parent_id().to_string();
                    ensure(parent == S1 || parent == S2, || format!("parent {parent}"))?;
                    ensure(cleaned_conflicting(&spans)? == "false", || {
                        "marked conflicting".into()
                    })
                })();
                let note = format!(
                    "traceparent {a} + {b} -> trace {T1} continues, event traceparent.cleaned"
                );
                Ok(Outcome::new(spans, vec![note], verdict))
            }
            .await,
        )
    })
}

pub const C4: Scenario = Scenario {
    id: "C4",
    title: "two traceparent headers, two trace ids",
    proves: "a new trace (W3C); the event says they conflicted",
    run: c4,
};

fn c4<'a>(stack: &'a Stack, _: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let (a, b) = (traceparent(T1, S1), traceparent(T2, S2));
                let spans = at_b(
                    stack,
                    &[("traceparent", a.as_bytes()), ("traceparent", b.as_bytes())],
                )
                .await?;
                let id = spans[0].trace_id().to_string();
                let verdict = (|| {
                    ensure(
                        spans[0].parent_id() == SpanId::INVALID && id != T1 && id != T2,
                        || "one of the traces was continued".into(),
                    )?;
                    ensure(cleaned_conflicting(&spans)? == "true", || {
                        "not marked conflicting".into()
                    })
                })();
                Ok(Outcome::new(
                    spans,
                    vec![format!("-> new trace {id}")],
                    verdict,
                ))
            }
            .await,
        )
    })
}

pub const C5: Scenario = Scenario {
    id: "C5",
    title: "tracestate",
    proves: "spread over several headers: combined; oversized: trimmed; invalid: dropped",
    run: c5,
};

fn c5<'a>(stack: &'a Stack, _: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(async {
            let long: Vec<String> = (0..8).map(|i| format!("k{i}={}", "v".repeat(100))).collect();
            let long = long.join(",");
            let cases: [(&str, &[&str]); 3] = [
                ("combined", &["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"]),
                ("trimmed", &[&long]),
                ("dropped", &["congo=ok,=invalid"]),
            ];
            let (mut shown, mut notes) = (Spans::default(), Vec::new());
            for (i, (what, values)) in cases.into_iter().enumerate() {
                let trace = format!("{}{i}", &T2[..31]);
                let parent = traceparent(&trace, S1);
                let mut headers: Vec<(&str, &[u8])> = vec![("traceparent", parent.as_bytes())];
                headers.extend(values.iter().map(|v| ("tracestate", v.as_bytes())));
                let answer = get(&format!("{}/call/b", stack.a), &headers).await?;
                ensure(answer.status == 200, || answer.body.clone())?;
                let id = TraceId::from_hex(&trace).map_err(|e| e.to_string())?;
                let spans = only(&wait_until(stack, |s| only(s, id).len() >= 3), id);
                shape::check(&spans, "service-a SERVER GET /call/b\n  service-a CLIENT GET /process\n    service-b SERVER GET /process")?;
                let b = one(&spans, "service-b", SERVER, "GET /process")?;
                let got = b.data.span_context.trace_state().header();
                let right = match what {
                    "combined" => got == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
                    "trimmed" => got.len() <= 512 && got.starts_with("k0=") && !got.contains("k7="),
                    _ => got.is_empty(),
                };
                let shown_value = if got.len() > 60 { format!("{}... ({} chars)", &got[..60], got.len()) } else { got.clone() };
                notes.push(format!("{what}: B received tracestate {shown_value:?}"));
                ensure(right, || format!("{what}: B received {got:?}"))?;
                shown.0.extend(spans.0);
            }
            Ok(Outcome::new(shown, notes, Ok(())))
        }.await)
    })
}

pub const C6: Scenario = Scenario {
    id: "C6",
    title: "hostile X-Trace-ID",
    proves: "quotes, bytes, 10 KB: rejected and replaced; logs stay one line of valid JSON",
    run: c6,
};

fn c6<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let huge = "a".repeat(10 * 1024);
                let hostile: [(&str, &[u8]); 3] = [
                    ("quotes", b"\"}, {\"injected\": true"),
                    ("bytes", b"bytes-\xff\xfe"),
                    ("10 KB", huge.as_bytes()),
                ];
                let (mut shown, mut notes) = (Spans::default(), Vec::new());
                for (what, value) in hostile {
                    let answer = get(
                        &format!("{}/a/sequential", stack.edge),
                        &[("x-trace-id", value)],
                    )
                    .await?;
                    ensure(answer.status == 200, || answer.body.clone())?;
                    let spans = trace_of(stack, "edge", &answer.correlation, 7)?;
                    let id = spans.trace_ids()[0];
                    ensure(answer.correlation == id.to_string(), || {
                        "not replaced by the trace id".into()
                    })?;
                    let lines = super::logs_carry(logs, id, &answer.correlation)?;
                    notes.push(format!(
                        "{what}: replaced by {}; {lines} log lines, all valid JSON",
                        answer.correlation
                    ));
                    shown.0.extend(spans.0);
                }
                let injected = logs
                    .parsed()?
                    .iter()
                    .any(|l| l.to_string().contains("injected"));
                Ok(Outcome::new(
                    shown,
                    notes,
                    ensure(!injected, || "a hostile value reached the logs".into()),
                ))
            }
            .await,
        )
    })
}

/// B, exporting to `endpoint` (and to `capture`); `n` requests; how many
/// were served.
async fn b_with_collector(
    endpoint: String,
    capture: &Capture,
    n: usize,
) -> Result<(Guard, usize), String> {
    let vars = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000".to_owned()),
        ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
        // Metrics on a Prometheus exposition: where the drops are read.
        ("OTEL_METRICS_EXPORTER", "prometheus".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
    ];
    let guard = o11y::builder("service-b")
        .install_subscriber(false)
        .env_lookup(move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
        .with_span_processor(capture.processor())
        .build()
        .map_err(|e| e.to_string())?;
    let provider = guard.tracer_provider().ok_or("no tracer provider")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let config = Config {
        listen: addr,
        telemetry: Telemetry::with_tracer_provider(provider),
        ..Config::from_lookup(0, |_| None).map_err(|e| e.to_string())?
    };
    tokio::spawn(async move { axum::serve(listener, patterns::service_b::router(&config)).await });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/process");
    let mut served = 0;
    for _ in 0..n.div_ceil(32) {
        let batch = (0..32).map(|_| client.get(&url).send());
        for answer in futures_util::future::join_all(batch).await {
            served += usize::from(answer.is_ok_and(|a| a.status() == 200));
        }
    }
    Ok((guard, served))
}

/// The spans `guard` counted as dropped so far (`o11y.telemetry.dropped`,
/// every reason), read from its Prometheus exposition.
fn dropped_spans(guard: &Guard) -> Option<u64> {
    let text = guard.prometheus()?.render();
    let counts = text
        .lines()
        .filter(|l| {
            l.starts_with("o11y_telemetry_dropped_total{") && l.contains(r#"signal="spans""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
    Some(counts.sum())
}

pub const C7: Scenario = Scenario {
    id: "C7",
    title: "OTLP collector down",
    proves: "refused or silent: every request served, the queue bounded, dropped spans counted",
    run: c7,
};

fn c7<'a>(_: &'a Stack, _: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(async {
            let mut notes = Vec::new();
            let refused = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let port = refused.local_addr().map_err(|e| e.to_string())?.port();
            drop(refused);
            let capture = Capture::new();
            let (guard, served) = b_with_collector(format!("http://127.0.0.1:{port}"), &capture, 320).await?;
            let _ = guard.shutdown_within(Duration::from_secs(2));
            ensure(served == 320, || format!("refused: {served} of 320 served"))?;
            notes.push(format!("collector refusing (port {port}): {served} of 320 requests served"));
            // Never accepted: the handshake completes, nothing is read.
            let hole = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let port = hole.local_addr().map_err(|e| e.to_string())?.port();
            let n = 3200;
            let (guard, served) = b_with_collector(format!("http://127.0.0.1:{port}"), &Capture::new(), n).await?;
            let dropped = dropped_spans(&guard);
            let _ = guard.shutdown_within(Duration::from_secs(1));
            drop(hole);
            notes.push(format!(
                "collector silent (port {port}): {served} of {n} requests served; queue bounded at 2048 spans, {} dropped and counted",
                dropped.map_or("none".into(), |d| d.to_string())
            ));
            let verdict = ensure(served == n && dropped.is_some_and(|d| d > 0), || {
                format!("{served} of {n} served, dropped {dropped:?}")
            });
            // One request's tree, as the refused collector would have had it.
            let first = capture.spans().trace_ids()[0];
            Ok(Outcome::new(only(&capture.spans(), first), notes, verdict))
        }.await)
    })
}

pub const C8: Scenario = Scenario {
    id: "C8",
    title: "queue message without usable context",
    proves: "no context, a bad one, a corrupt envelope: each in a new trace, none lost",
    run: c8,
};

fn c8<'a>(stack: &'a Stack, _: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let transport = stack.transport.clone();
                let queue = stack.c_config.jobs_queue.clone();
                let jobs: [&[u8]; 3] = [
                b"{\"job\":\"from a producer without tracing\"}",
                b"o11y-envelope/1\n{\"traceparent\":\"00-zz-zz-01\"}\n{\"job\":\"bad context\"}",
                b"o11y-envelope/1\n{not json\n{\"job\":\"corrupt envelope\"}",
            ];
                for job in jobs {
                    transport
                        .publish(&queue, Message::new(job.to_vec()))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let provider = stack.capture.provider("producer");
                let producer =
                    Telemetry::with_tracer_provider(provider.clone()).producer(transport.clone());
                let cx = Context::new().with_span(provider.tracer("showcase").start("place order"));
                producer
                    .publish_with_context(&cx, &queue, "{\"job\":\"traced\"}")
                    .await
                    .map_err(|e| e.to_string())?;
                cx.span().end();
                let traced = cx.span().span_context().trace_id();
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let config = stack.c_config.clone();
                let consumer = tokio::spawn(async move {
                    service_c::consume_jobs(transport, &config, async {
                        let _ = stopped.await;
                    })
                    .await;
                });
                let is_job = |s: &&CapturedSpan| {
                    s.kind() == SpanKind::Consumer && s.service() == "service-c"
                };
                let consumers = |s: &Spans| s.iter().filter(is_job).count();
                let seen = wait_until(stack, |s| consumers(s) >= 4);
                let _ = stop.send(());
                let _ = consumer.await;
                let mut notes = Vec::new();
                let verdict = (|| {
                    ensure(consumers(&seen) == 4, || {
                        format!("{} of 4 jobs consumed", consumers(&seen))
                    })?;
                    let mut outcomes = Vec::new();
                    for span in seen.iter().filter(is_job) {
                        let outcome = span.attr_str(semconv::OUTCOME).unwrap_or_default();
                        let new = span.parent_id() == SpanId::INVALID;
                        ensure(new != (span.trace_id() == traced), || "wrong parent".into())?;
                        notes.push(format!(
                            "job in trace {}: {}, {outcome}",
                            span.trace_id(),
                            if new {
                                "new trace"
                            } else {
                                "the producer's trace"
                            }
                        ));
                        outcomes.push(outcome);
                    }
                    outcomes.sort();
                    ensure(outcomes == ["ack", "ack", "ack", "dead_letter"], || {
                        format!("outcomes {outcomes:?}")
                    })
                })();
                notes.push(format!(
                    "transport {}: the corrupt envelope is kept in {}.dlq",
                    stack.transport_name, queue
                ));
                let shown = Spans(
                    seen.iter()
                        .filter(|s| is_job(s) || s.trace_id() == traced)
                        .cloned()
                        .collect(),
                );
                Ok(Outcome::new(shown, notes, verdict))
            }
            .await,
        )
    })
}

/// Keeps what a batch processor exports, through its shutdown.
#[derive(Clone, Debug, Default)]
struct Exported(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Exported {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(batch);
        std::future::ready(Ok(()))
    }
}

pub const C9: Scenario = Scenario {
    id: "C9",
    title: "shutdown with spans in flight",
    proves: "a request in flight when the stop comes is answered, and its span flushed before exit",
    run: c9,
};

fn c9<'a>(_: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        settle(
            async {
                let exporter = Exported::default();
                let capture = Capture::new();
                let none = |n: &str| n.ends_with("_EXPORTER").then(|| "none".to_owned());
                let guard = o11y::builder("service-c")
                    .install_subscriber(false)
                    .env_lookup(none)
                    .with_span_processor(BatchSpanProcessor::builder(exporter.clone()).build())
                    .with_span_processor(capture.processor())
                    .build()
                    .map_err(|e| e.to_string())?;
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| e.to_string())?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                let config = Config {
                    listen: addr,
                    telemetry: Telemetry::with_tracer_provider(
                        guard.tracer_provider().ok_or("no provider")?,
                    ),
                    ..Config::from_lookup(0, |_| None).map_err(|e| e.to_string())?
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
                let deadline = Instant::now() + Duration::from_secs(10);
                let started = || {
                    logs.parsed().is_ok_and(|lines| {
                        lines.iter().any(|l| {
                            l["correlation_id"] == "c9-in-flight" && l["message"] == "processing"
                        })
                    })
                };
                while !started() && Instant::now() < deadline {
                    tokio::task::yield_now().await;
                }
                ensure(started(), || "the request never reached the handler".into())?;
                let _ = stop.send(());
                let status = request
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?
                    .status();
                let _ = server.await;
                let before = exporter
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len();
                guard.shutdown().map_err(|e| e.to_string())?;
                let after = exporter
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let flushed = after.iter().any(|s| s.name == "GET /process");
                let notes = vec![
                    "stop sent while GET /process?delay_ms=300 was in its handler".to_owned(),
                    format!(
                        "answered {status}; spans exported before shutdown {before}, after {}",
                        after.len()
                    ),
                ];
                let verdict = ensure(status == 200 && flushed, || {
                    "the span in flight was not flushed".into()
                });
                Ok(Outcome::new(capture.spans(), notes, verdict))
            }
            .await,
        )
    })
}
