//! Section B: call patterns between A, B and C behind the edge.

use futures_util::future::BoxFuture;
use o11y::{
    opentelemetry::trace::SpanKind,
    testing::{CapturedSpan, Spans},
};

use super::{Answer, Outcome, Scenario, ensure, get, logs_carry, one, trace_of};
use crate::{Logs, Stack, shape};

const SERVER: SpanKind = SpanKind::Server;

/// `GET {edge}{path}`; its trace once `n` spans ended; every log line of it
/// checked for the correlation id.
async fn via_edge(
    stack: &Stack,
    logs: &Logs,
    path: &str,
    headers: &[(&str, &[u8])],
    n: usize,
) -> Result<(Answer, Spans, Vec<String>), String> {
    let answer = get(&format!("{}{path}", stack.edge), headers).await?;
    let spans = trace_of(stack, "edge", &answer.correlation, n)?;
    let trace = spans.trace_ids()[0];
    let lines = logs_carry(logs, trace, &answer.correlation)?;
    let note = format!(
        "GET {path} -> {} (x-trace-id {}); {lines} log lines, each with trace_id and correlation_id",
        answer.status, answer.correlation
    );
    Ok((answer, spans, vec![note]))
}

/// The edge's two spans above `inner` (the proxied service's tree).
fn behind_edge(prefix: char, status: u16, inner: &str) -> String {
    let server = if status >= 500 { " !" } else { "" };
    let client = if status >= 400 { " !" } else { "" };
    let inner: String = inner.lines().map(|l| format!("    {l}\n")).collect();
    format!("edge SERVER GET /{prefix}/{{*path}}{server}\n  edge CLIENT GET{client}\n{inner}")
}

/// Whether a CLIENT span called `base`.
fn called(span: &CapturedSpan, base: &str) -> bool {
    span.attr_str("url.full")
        .is_some_and(|u| u.starts_with(base))
}

fn children_of<'s>(
    spans: &'s Spans,
    service: &str,
    name: &str,
) -> Result<Vec<&'s CapturedSpan>, String> {
    Ok(spans.children(one(spans, service, SERVER, name)?))
}

/// Runs `check` over a trace fetched through the edge.
macro_rules! through_edge {
    ($stack:ident, $logs:ident, $path:expr, $n:expr, |$answer:ident, $spans:ident| $check:block) => {{
        match via_edge($stack, $logs, $path, &[], $n).await {
            Err(e) => Outcome::failed(e),
            Ok(($answer, $spans, notes)) => {
                let verdict = (|| -> Result<(), String> { $check })();
                Outcome::new($spans, notes, verdict)
            }
        }
    }};
}

pub const B1: Scenario = Scenario {
    id: "B1",
    title: "parallel",
    proves: "A calls B and C at once: sibling spans overlap, both children of A",
    run: b1,
};

fn b1<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/a/parallel", 7, |answer, spans| {
            ensure(answer.status == 200, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'a',
                    200,
                    "\
service-a SERVER GET /parallel
  service-a CLIENT GET /process
    service-b SERVER GET /process
  service-a CLIENT GET /process
    service-c SERVER GET /process",
                ),
            )?;
            let calls = children_of(&spans, "service-a", "GET /parallel")?;
            let (x, y) = (calls[0], calls[1]);
            ensure(
                x.data.start_time < y.data.end_time && y.data.start_time < x.data.end_time,
                || "the two calls do not overlap".into(),
            )
        })
    })
}

pub const B2: Scenario = Scenario {
    id: "B2",
    title: "sequential",
    proves: "A calls B, then C: ordered siblings",
    run: b2,
};

fn b2<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/a/sequential", 7, |answer, spans| {
            ensure(answer.status == 200, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'a',
                    200,
                    "\
service-a SERVER GET /sequential
  service-a CLIENT GET /process
    service-b SERVER GET /process
  service-a CLIENT GET /process
    service-c SERVER GET /process",
                ),
            )?;
            let calls = children_of(&spans, "service-a", "GET /sequential")?;
            ensure(
                called(calls[0], &stack.b) && called(calls[1], &stack.c),
                || "B first, then C".into(),
            )?;
            ensure(calls[0].data.end_time <= calls[1].data.start_time, || {
                "C was called before B answered".into()
            })
        })
    })
}

pub const B3: Scenario = Scenario {
    id: "B3",
    title: "circular C -> A",
    proves: "entry at C, C calls A, A calls C: a service twice in one trace",
    run: b3,
};

fn b3<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/c/circular", 7, |answer, spans| {
            ensure(answer.status == 200, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'c',
                    200,
                    "\
service-c SERVER GET /circular
  service-c CLIENT GET /call/c
    service-a SERVER GET /call/c
      service-a CLIENT GET /process
        service-c SERVER GET /process",
                ),
            )
        })
    })
}

pub const B4: Scenario = Scenario {
    id: "B4",
    title: "circular B -> A",
    proves: "B calls A, A calls B: one trace, not two",
    run: b4,
};

fn b4<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/b/circular", 7, |answer, spans| {
            ensure(answer.status == 200, || answer.body.clone())?;
            ensure(spans.trace_ids().len() == 1, || {
                "more than one trace".into()
            })?;
            shape::check(
                &spans,
                &behind_edge(
                    'b',
                    200,
                    "\
service-b SERVER GET /circular
  service-b CLIENT GET /call/b
    service-a SERVER GET /call/b
      service-a CLIENT GET /process
        service-b SERVER GET /process",
                ),
            )
        })
    })
}

pub const B5: Scenario = Scenario {
    id: "B5",
    title: "circular B -> C, duplicated traceparent",
    proves: "a proxy sends traceparent twice to C: header cleaning keeps one trace",
    run: b5,
};

fn b5<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/b/duplicate", 5, |answer, spans| {
            ensure(answer.status == 200, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'b',
                    200,
                    "\
service-b SERVER GET /duplicate
  service-b CLIENT GET /process
    service-c SERVER GET /process",
                ),
            )?;
            let c = one(&spans, "service-c", SERVER, "GET /process")?;
            ensure(c.event("traceparent.cleaned").is_some(), || {
                "C's span does not record the cleaning".into()
            })
        })
    })
}

pub const B6: Scenario = Scenario {
    id: "B6",
    title: "failure: timeout",
    proves: "A calls B (ok) and C (times out): the timeout is an error on A's client span",
    run: b6,
};

fn b6<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        // C's span ends after its slow job, after A gave up: wait for it too.
        through_edge!(stack, logs, "/a/timeout", 7, |answer, spans| {
            ensure(answer.status == 502, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'a',
                    502,
                    "\
service-a SERVER GET /timeout !
  service-a CLIENT GET /process
    service-b SERVER GET /process
  service-a CLIENT GET /process !
    service-c SERVER GET /process",
                ),
            )?;
            let calls = children_of(&spans, "service-a", "GET /timeout")?;
            let to_c = calls
                .iter()
                .find(|s| called(s, &stack.c))
                .ok_or("no call to C")?;
            ensure(
                to_c.attr_str("error.type").as_deref() == Some("timeout"),
                || "the call to C lacks error.type timeout".into(),
            )
        })
    })
}

pub const B7: Scenario = Scenario {
    id: "B7",
    title: "failure: partial",
    proves: "B works, C fails: mixed status siblings, A answers with what it has",
    run: b7,
};

fn b7<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/a/partial", 7, |answer, spans| {
            ensure(answer.status == 200, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'a',
                    200,
                    "\
service-a SERVER GET /partial
  service-a CLIENT GET /process
    service-b SERVER GET /process
  service-a CLIENT GET /error !
    service-c SERVER GET /error !",
                ),
            )
        })
    })
}

pub const B8: Scenario = Scenario {
    id: "B8",
    title: "failure: cascade",
    proves: "C fails, B fails, A fails: every hop marks the error once, with error.type",
    run: b8,
};

fn b8<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/a/cascade", 7, |answer, spans| {
            ensure(answer.status == 502, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'a',
                    502,
                    "\
service-a SERVER GET /cascade !
  service-a CLIENT GET /cascade !
    service-b SERVER GET /cascade !
      service-b CLIENT GET /error !
        service-c SERVER GET /error !",
                ),
            )?;
            for span in spans.iter() {
                let n = span
                    .data
                    .attributes
                    .iter()
                    .filter(|kv| kv.key.as_str() == "error.type")
                    .count();
                ensure(n == 1, || {
                    format!(
                        "{} {} has error.type {n} times",
                        span.service(),
                        span.name()
                    )
                })?;
            }
            Ok(())
        })
    })
}

pub const B9: Scenario = Scenario {
    id: "B9",
    title: "failure: chain",
    proves: "four sequential steps, step 2 fails: steps 3 and 4 absent, step 2 errored",
    run: b9,
};

fn b9<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        through_edge!(stack, logs, "/a/chain?fail_at=2", 7, |answer, spans| {
            ensure(answer.status == 502, || answer.body.clone())?;
            shape::check(
                &spans,
                &behind_edge(
                    'a',
                    502,
                    "\
service-a SERVER GET /chain !
  service-a CLIENT GET /process
    service-b SERVER GET /process
  service-a CLIENT GET /error !
    service-c SERVER GET /error !",
                ),
            )?;
            let steps = children_of(&spans, "service-a", "GET /chain")?;
            ensure(steps[0].data.end_time <= steps[1].data.start_time, || {
                "steps overlap".into()
            })
        })
    })
}

pub const B10: Scenario = Scenario {
    id: "B10",
    title: "error endpoints",
    proves: "each of B's and C's error endpoints: its status code, span status and exception event",
    run: b10,
};

fn b10<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        let cases = [
            ('b', "/error", 500, "InternalError"),
            ('b', "/timeout", 504, "TimeoutError"),
            ('b', "/db-error", 503, "DatabaseError"),
            ('b', "/memory-error", 507, "MemoryError"),
            ('c', "/error", 500, "InternalError"),
            ('c', "/auth-error", 401, "AuthenticationError"),
            ('c', "/rate-limit-error", 429, "RateLimitError"),
            ('c', "/dependency-error", 502, "DependencyError"),
        ];
        let mut shown = Spans::default();
        let mut notes = Vec::new();
        for (prefix, route, status, exception) in cases {
            let path = format!("/{prefix}{route}");
            let (answer, spans, _) = match via_edge(stack, logs, &path, &[], 3).await {
                Ok(found) => found,
                Err(e) => return Outcome::failed(e),
            };
            let service = format!("service-{prefix}");
            let verdict = (|| -> Result<(), String> {
                ensure(answer.status == status, || {
                    format!("{path}: {}", answer.status)
                })?;
                let mark = if status >= 500 { " !" } else { "" };
                shape::check(
                    &spans,
                    &behind_edge(
                        prefix,
                        status,
                        &format!("{service} SERVER GET {route}{mark}"),
                    ),
                )?;
                let server = one(&spans, &service, SERVER, &format!("GET {route}"))?;
                let event = server.event("exception").ok_or("no exception event")?;
                let kind = event.iter().find(|kv| kv.key.as_str() == "exception.type");
                ensure(
                    kind.is_some_and(|kv| kv.value.as_str() == exception),
                    || format!("{path}: exception.type is not {exception}"),
                )
            })();
            if let Err(reason) = verdict {
                return Outcome::new(spans, notes, Err(reason));
            }
            notes.push(format!("GET {path} -> {status}, exception {exception}"));
            shown.0.extend(spans.0);
        }
        Outcome::new(shown, notes, Ok(()))
    })
}

pub const B11: Scenario = Scenario {
    id: "B11",
    title: "X-Trace-ID",
    proves: "assigned once at the edge (or kept when given), echoed, on every server span and log line",
    run: b11,
};

fn b11<'a>(stack: &'a Stack, logs: &'a Logs) -> BoxFuture<'a, Outcome> {
    Box::pin(async move {
        let mut shown = Spans::default();
        let mut notes = Vec::new();
        for given in [None, Some("order-42-7f3a")] {
            let headers: Vec<(&str, &[u8])> =
                given.iter().map(|g| ("x-trace-id", g.as_bytes())).collect();
            let (answer, spans, mut note) =
                match via_edge(stack, logs, "/a/sequential", &headers, 7).await {
                    Ok(found) => found,
                    Err(e) => return Outcome::failed(e),
                };
            let verdict = (|| -> Result<(), String> {
                let expected =
                    given.map_or_else(|| spans.trace_ids()[0].to_string(), str::to_owned);
                ensure(answer.correlation == expected, || {
                    format!("echoed {}", answer.correlation)
                })?;
                for span in spans.iter().filter(|s| s.kind() == SERVER) {
                    ensure(
                        span.attr_str("correlation.id").as_deref() == Some(expected.as_str()),
                        || {
                            format!(
                                "{} {} lacks correlation.id {expected}",
                                span.service(),
                                span.name()
                            )
                        },
                    )?;
                }
                Ok(())
            })();
            notes.append(&mut note);
            if let Err(reason) = verdict {
                return Outcome::new(spans, notes, Err(reason));
            }
            shown.0.extend(spans.0);
        }
        Outcome::new(shown, notes, Ok(()))
    })
}
