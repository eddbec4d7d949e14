//! Shared by the test binaries: the four services on loopback ports in this
//! process, each with its own tracer provider feeding one [`Capture`], the
//! JSON log lines captured, and helpers to find spans and lines of a trace.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::Write,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use o11y::{
    opentelemetry::trace::{SpanId, SpanKind, Status, TraceId},
    testing::{Capture, CapturedSpan, Spans},
};
use patterns::{Config, Telemetry};
use serde_json::Value;
use tracing_subscriber::{Layer, filter::Targets, layer::SubscriberExt};

/// The call timeout the services get in tests.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long to wait for spans.
pub const WAIT: Duration = Duration::from_secs(10);

/// Captured JSON log lines (one global subscriber for the whole binary).
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    /// Every line written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Every line, parsed; panics on a line that is not one JSON object.
    pub fn parsed(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| match serde_json::from_str::<Value>(line) {
                Ok(v) if v.is_object() => v,
                _ => panic!("not one JSON object per line: {line:?}"),
            })
            .collect()
    }

    /// The lines of `trace`.
    pub fn of_trace(&self, trace: TraceId) -> Vec<Value> {
        let id = trace.to_string();
        self.parsed()
            .into_iter()
            .filter(|v| v["trace_id"] == id.as_str())
            .collect()
    }
}

/// The captured log lines; installs the subscriber on first use.
pub fn logs() -> &'static Lines {
    static LOGS: OnceLock<Lines> = OnceLock::new();
    LOGS.get_or_init(|| {
        let lines = Lines::default();
        let writer = lines.clone();
        let layer = o11y::log::JsonLayer::new()
            .with_service("patterns")
            .with_writer(move || writer.clone())
            .with_filter(
                Targets::new()
                    .with_target("patterns", tracing::Level::INFO)
                    .with_target("opentelemetry_sdk", tracing::Level::WARN)
                    .with_target("opentelemetry-otlp", tracing::Level::WARN)
                    .with_target("opentelemetry_otlp", tracing::Level::WARN),
            );
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("one subscriber per test binary");
        lines
    })
}

/// The four services, serving on loopback.
pub struct Stack {
    pub capture: Capture,
    pub edge: String,
    pub a: String,
    pub b: String,
    pub c: String,
    /// Service C's configuration (for its job consumer).
    pub c_config: Config,
}

async fn bind() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Starts edge, A, B and C; they serve until the test's runtime ends.
pub async fn start() -> Stack {
    logs();
    let capture = Capture::new();
    let (edge, a, b, c) = (bind().await, bind().await, bind().await, bind().await);
    let url = |addr: SocketAddr| format!("http://{addr}");
    let config = |name: &str, listen: SocketAddr| Config {
        listen,
        service_a: url(a.1),
        service_b: url(b.1),
        service_c: url(c.1),
        call_timeout: CALL_TIMEOUT,
        jobs_queue: "jobs".to_owned(),
        telemetry: Telemetry::with_tracer_provider(capture.provider(name)),
    };
    let c_config = config("service-c", c.1);
    let routers = [
        (edge.0, patterns::edge::router(&config("edge", edge.1))),
        (a.0, patterns::service_a::router(&config("service-a", a.1))),
        (b.0, patterns::service_b::router(&config("service-b", b.1))),
        (c.0, patterns::service_c::router(&c_config)),
    ];
    for (listener, router) in routers {
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    Stack {
        capture,
        edge: url(edge.1),
        a: url(a.1),
        b: url(b.1),
        c: url(c.1),
        c_config,
    }
}

/// A response, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The `x-trace-id` response header.
    pub fn correlation_id(&self) -> String {
        self.headers
            .get("x-trace-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// `GET url` with `headers` (appended in order, so a name may repeat), from
/// a caller without tracing.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    let response = reqwest::Client::new()
        .get(url)
        .headers(map)
        .send()
        .await
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// [`Capture::wait_until`] for at most [`WAIT`], letting the runtime's other
/// tasks (the services) run meanwhile.
pub fn wait_until(capture: &Capture, done: impl Fn(&Spans) -> bool) -> Spans {
    tokio::task::block_in_place(|| capture.wait_until(WAIT, done))
}

/// The spans of one trace, with lookups that explain themselves.
pub struct Trace {
    pub id: TraceId,
    pub spans: Spans,
}

impl Trace {
    /// Waits until the SERVER span of `entry_service` carrying correlation id
    /// `correlation` has ended, then until `n` spans of its trace have.
    pub fn wait(capture: &Capture, entry_service: &str, correlation: &str, n: usize) -> Self {
        let entry = |spans: &Spans| -> Option<TraceId> {
            spans
                .iter()
                .find(|s| {
                    s.service() == entry_service
                        && s.kind() == SpanKind::Server
                        && s.attr_str("correlation.id").as_deref() == Some(correlation)
                })
                .map(CapturedSpan::trace_id)
        };
        let found = wait_until(capture, |s| entry(s).is_some());
        let id = entry(&found).unwrap_or_else(|| {
            panic!(
                "no {entry_service} SERVER span with correlation id {correlation}:\n{}",
                found.render_tree()
            )
        });
        Self::of(capture, id, n)
    }

    /// Waits until `n` spans of trace `id` have ended.
    pub fn of(capture: &Capture, id: TraceId, n: usize) -> Self {
        let only = |spans: &Spans| {
            Spans(
                spans
                    .iter()
                    .filter(|s| s.trace_id() == id)
                    .cloned()
                    .collect(),
            )
        };
        let spans = only(&wait_until(capture, |s| only(s).len() >= n));
        assert!(
            spans.len() >= n,
            "expected {n} spans in trace {id}, got:\n{}",
            spans.render_tree()
        );
        Self { id, spans }
    }

    /// The tree, for failure messages.
    pub fn tree(&self) -> String {
        self.spans.render_tree()
    }

    /// Every span of `service` of `kind` named `name`.
    pub fn all(&self, service: &str, kind: SpanKind, name: &str) -> Vec<&CapturedSpan> {
        let mut found: Vec<&CapturedSpan> = self
            .spans
            .iter()
            .filter(|s| s.service() == service && s.kind() == kind && s.name() == name)
            .collect();
        found.sort_by_key(|s| s.data.start_time);
        found
    }

    /// The one span of `service` of `kind` named `name`.
    #[track_caller]
    pub fn one(&self, service: &str, kind: SpanKind, name: &str) -> &CapturedSpan {
        match self.all(service, kind.clone(), name).as_slice() {
            [one] => one,
            found => panic!(
                "expected one {service} {kind:?} {name:?}, found {}:\n{}",
                found.len(),
                self.tree()
            ),
        }
    }

    /// The spans whose parent is `span`, in start order.
    pub fn children(&self, span: &CapturedSpan) -> Vec<&CapturedSpan> {
        self.spans.children(span)
    }

    /// Asserts `child`'s parent is `parent`.
    #[track_caller]
    pub fn assert_parent(&self, child: &CapturedSpan, parent: &CapturedSpan) {
        assert!(
            child.parent_id() == parent.span_id() && child.trace_id() == parent.trace_id(),
            "{} {} is not a child of {} {}:\n{}",
            child.service(),
            child.name(),
            parent.service(),
            parent.name(),
            self.tree()
        );
    }

    /// Asserts `root` has no parent: it started the trace.
    #[track_caller]
    pub fn assert_root(&self, root: &CapturedSpan) {
        assert!(
            root.parent_id() == SpanId::INVALID,
            "{} is not a root:\n{}",
            root.name(),
            self.tree()
        );
    }
}

/// The `http.response.status_code` of a span.
pub fn status_code(span: &CapturedSpan) -> Option<i64> {
    match span.attr("http.response.status_code") {
        Some(o11y::opentelemetry::Value::I64(code)) => Some(*code),
        _ => None,
    }
}

/// Whether the span's status is ERROR.
pub fn errored(span: &CapturedSpan) -> bool {
    matches!(span.status(), Status::Error { .. })
}

/// How many times the span carries attribute `key`.
pub fn attr_count(span: &CapturedSpan, key: &str) -> usize {
    span.data
        .attributes
        .iter()
        .filter(|kv| kv.key.as_str() == key)
        .count()
}

/// The `exception.type` of each `exception` event of the span.
pub fn exceptions(span: &CapturedSpan) -> Vec<String> {
    span.data
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .map(|e| {
            e.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "exception.type")
                .map(|kv| kv.value.as_str().into_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// Whether `a` and `b` overlap in time.
pub fn overlap(a: &CapturedSpan, b: &CapturedSpan) -> bool {
    a.data.start_time < b.data.end_time && b.data.start_time < a.data.end_time
}
