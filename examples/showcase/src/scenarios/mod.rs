//! The scenarios, in the order of the scenario set, and what they share.

mod calls;
mod edge_cases;
mod shop;

use std::time::Duration;

use futures_util::future::BoxFuture;
use o11y::{
    opentelemetry::trace::{SpanKind, TraceId},
    testing::{CapturedSpan, Spans},
};

use crate::{Logs, Stack};

/// How long a scenario waits for its spans.
const WAIT: Duration = Duration::from_secs(10);

/// One scenario: drives the services, then shows and checks what came out.
pub struct Scenario {
    /// `B1`, `C7`, ...
    pub id: &'static str,
    /// A few words.
    pub title: &'static str,
    /// What it proves.
    pub proves: &'static str,
    /// Drives it.
    pub run: for<'a> fn(&'a Stack, &'a Logs) -> BoxFuture<'a, Outcome>,
}

/// What a scenario shows, and whether it is right.
pub struct Outcome {
    /// The traces to print.
    pub shown: Spans,
    /// Lines printed under the trees.
    pub notes: Vec<String>,
    /// `Err` says what is wrong.
    pub verdict: Result<(), String>,
    /// Why the scenario could not run here (a server it needs is missing).
    pub skipped: Option<String>,
}

impl Outcome {
    fn new(shown: Spans, notes: Vec<String>, verdict: Result<(), String>) -> Self {
        Self {
            shown,
            notes,
            verdict,
            skipped: None,
        }
    }

    /// Not run: `why` names what is missing. Under
    /// `O11Y_REQUIRE_SERVICES=1` that is a failure.
    fn skipped(why: String) -> Self {
        if std::env::var("O11Y_REQUIRE_SERVICES").as_deref() == Ok("1") {
            return Self::failed(format!("{why} (O11Y_REQUIRE_SERVICES=1)"));
        }
        Self {
            skipped: Some(why),
            ..Self::new(Spans::default(), Vec::new(), Ok(()))
        }
    }

    fn failed(reason: String) -> Self {
        Self::new(Spans::default(), Vec::new(), Err(reason))
    }
}

/// Every scenario, A, B, then C.
pub static SCENARIOS: &[Scenario] = &[
    shop::A1,
    shop::A2,
    shop::A3,
    shop::A4,
    shop::A5,
    shop::A6,
    shop::A7,
    calls::B1,
    calls::B2,
    calls::B3,
    calls::B4,
    calls::B5,
    calls::B6,
    calls::B7,
    calls::B8,
    calls::B9,
    calls::B10,
    calls::B11,
    edge_cases::C1,
    edge_cases::C2,
    edge_cases::C3,
    edge_cases::C4,
    edge_cases::C5,
    edge_cases::C6,
    edge_cases::C7,
    edge_cases::C8,
    edge_cases::C9,
];

/// `Err(message)` unless `condition`.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    match condition {
        true => Ok(()),
        false => Err(message()),
    }
}

/// A response, read whole.
struct Answer {
    status: u16,
    correlation: String,
    body: String,
}

/// `GET url` with `headers` (in order; a name may repeat), from a caller
/// without tracing.
async fn get(url: &str, headers: &[(&str, &[u8])]) -> Result<Answer, String> {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
        let value = http::HeaderValue::from_bytes(value).map_err(|e| e.to_string())?;
        map.append(name, value);
    }
    let response = reqwest::Client::new()
        .get(url)
        .headers(map)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status().as_u16();
    let correlation = response
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        correlation,
        body,
    })
}

/// Waits (off the services' threads) until `done` holds for the capture.
fn wait_until(stack: &Stack, done: impl Fn(&Spans) -> bool) -> Spans {
    tokio::task::block_in_place(|| stack.capture.wait_until(WAIT, done))
}

/// The spans of trace `id`.
fn only(spans: &Spans, id: TraceId) -> Spans {
    Spans(
        spans
            .iter()
            .filter(|s| s.trace_id() == id)
            .cloned()
            .collect(),
    )
}

/// The trace whose `service` SERVER span carries `correlation`, once `n`
/// of its spans have ended.
fn trace_of(stack: &Stack, service: &str, correlation: &str, n: usize) -> Result<Spans, String> {
    let entry = |spans: &Spans| {
        spans
            .iter()
            .find(|s| {
                s.service() == service
                    && s.kind() == SpanKind::Server
                    && s.attr_str("correlation.id").as_deref() == Some(correlation)
            })
            .map(CapturedSpan::trace_id)
    };
    let found = wait_until(stack, |s| entry(s).is_some());
    let id = entry(&found).ok_or_else(|| format!("no {service} span for {correlation}"))?;
    let spans = only(&wait_until(stack, |s| only(s, id).len() >= n), id);
    ensure(spans.len() >= n, || {
        format!("{} of {n} spans of trace {id} ended", spans.len())
    })?;
    Ok(spans)
}

/// Every log line of `trace` carries `correlation` (and is JSON).
fn logs_carry(logs: &Logs, trace: TraceId, correlation: &str) -> Result<usize, String> {
    let lines = logs.of_trace(trace)?;
    ensure(!lines.is_empty(), || {
        format!("no log line of trace {trace}")
    })?;
    for line in &lines {
        ensure(line["correlation_id"] == correlation, || {
            format!("a log line lacks correlation id {correlation}: {line}")
        })?;
    }
    Ok(lines.len())
}

/// The one span of `service` of `kind` named `name`.
fn one<'s>(
    spans: &'s Spans,
    service: &str,
    kind: SpanKind,
    name: &str,
) -> Result<&'s CapturedSpan, String> {
    let found: Vec<&CapturedSpan> = spans
        .iter()
        .filter(|s| s.service() == service && s.kind() == kind && s.name() == name)
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        _ => Err(format!(
            "expected one {service} {kind:?} {name:?}, found {}",
            found.len()
        )),
    }
}
