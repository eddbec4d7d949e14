//! What every shop test shares: the services' telemetry captured in memory,
//! the JSON log lines captured and parsed, servers on loopback ports, the
//! `/metrics` page read, and the loud skip when a server is down.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::Write,
    net::SocketAddr,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::Router;
use o11y::{
    Guard,
    config::ExporterKind,
    opentelemetry::trace::{SpanId, SpanKind, TraceId},
    testing::{Capture, CapturedSpan, Spans},
};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt as _;

/// How long any wait may last before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The spans of every service of one test, and their telemetry guards.
pub struct Shop {
    pub capture: Capture,
    guards: Mutex<Vec<Arc<Guard>>>,
}

impl Shop {
    pub fn new() -> Self {
        logs(); // the log capture is installed before any service starts
        Self {
            capture: Capture::new(),
            guards: Mutex::default(),
        }
    }

    /// Telemetry for `service` as `o11y::init` would set it up, except that
    /// spans go to the capture, metrics to the service's `/metrics` page,
    /// and nothing is installed globally.
    pub fn telemetry(&self, service: &str) -> Arc<Guard> {
        let guard = o11y::builder(service)
            .traces_exporter(ExporterKind::None)
            .metrics_exporter(ExporterKind::Prometheus)
            .logs_exporter(ExporterKind::None)
            .with_span_processor(self.capture.processor())
            .install_subscriber(false)
            .build()
            .expect("telemetry");
        let guard = Arc::new(guard);
        self.guards.lock().unwrap().push(guard.clone());
        guard
    }

    /// Waits until `done` holds for the captured spans.
    pub async fn spans(&self, done: impl Fn(&Spans) -> bool + Send + 'static) -> Spans {
        let capture = self.capture.clone();
        tokio::task::spawn_blocking(move || capture.wait_until(PATIENCE, done))
            .await
            .unwrap()
    }
}

/// Serves `router` on a loopback port for the rest of the test.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(shop::serve(listener, router, std::future::pending()));
    format!("http://{addr}")
}

/// A URL nothing listens on.
pub async fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A plain client: the test is the user, not a traced service.
pub fn user_agent() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// Sends `body` (JSON) with the correlation id `correlation`; the status and
/// the JSON answer.
pub async fn send(
    method: reqwest::Method,
    url: &str,
    correlation: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = user_agent()
        .request(method, url)
        .header("x-trace-id", correlation);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let echoed = response
        .headers()
        .get("x-trace-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    if let Some(echoed) = echoed {
        assert_eq!(echoed, correlation, "the correlation id is echoed");
    }
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A name no other test, nor an earlier run, uses.
pub fn unique(case: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("shop_{case}_{}_{nanos}_{n}", std::process::id())
}

/// Whether something listens on `port` of loopback.
pub async fn reachable(port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    matches!(
        tokio::time::timeout(Duration::from_secs(2), connect).await,
        Ok(Ok(_))
    )
}

/// Prints the loud skip line, or fails under `O11Y_REQUIRE_SERVICES=1`.
pub fn skip(test: &str, what: &str) {
    if std::env::var("O11Y_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{test}: {what} not reachable and O11Y_REQUIRE_SERVICES=1");
    }
    let line = format!("SKIPPED: {test}: {what} not reachable\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

// ---- logs ----

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

/// The JSON log lines of this test binary (one subscriber per process).
pub fn logs() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines = Lines::default();
        let writer = lines.clone();
        let layer = o11y::log::JsonLayer::new()
            .with_service("shop-tests")
            .with_writer(move || writer.clone());
        let filter =
            tracing_subscriber::filter::Targets::new().with_target("shop", tracing::Level::INFO);
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::Layer::with_filter(layer, filter));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        lines
    })
}

/// Every log line of the trace `trace_id`, parsed; each is valid JSON.
pub fn lines_of(trace_id: TraceId) -> Vec<Value> {
    let text = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
    let trace = trace_id.to_string();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a log line is JSON"))
        .filter(|v| v["trace_id"] == trace.as_str())
        .collect()
}

/// The line of `trace_id` from module `target` saying `message`; it carries
/// the correlation id.
pub fn assert_logged(trace_id: TraceId, target: &str, message: &str, correlation: &str) -> Value {
    let lines = lines_of(trace_id);
    let line = lines
        .iter()
        .find(|l| l["target"] == target && l["message"] == message)
        .unwrap_or_else(|| panic!("no `{message}` from {target} in trace {trace_id}: {lines:#?}"));
    assert_eq!(line["correlation_id"], correlation, "{line}");
    assert!(
        line["span_id"].as_str().is_some_and(|s| s.len() == 16),
        "{line}"
    );
    line.clone()
}

// ---- spans ----

/// The one span of `service` of kind `kind` named `name`.
pub fn span<'a>(spans: &'a Spans, service: &str, kind: SpanKind, name: &str) -> &'a CapturedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.service() == service && s.kind() == kind && s.name() == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind:?} `{name}` span of {service}:\n{}",
        spans.render_tree()
    );
    found[0]
}

/// Asserts `child` is a child of `parent` in the same trace.
pub fn assert_child(child: &CapturedSpan, parent: &CapturedSpan) {
    assert_eq!(
        child.trace_id(),
        parent.trace_id(),
        "{} in the trace of {}",
        child.name(),
        parent.name()
    );
    assert_eq!(
        child.parent_id(),
        parent.span_id(),
        "{} is a child of {}",
        child.name(),
        parent.name()
    );
}

/// Asserts `s` is a root span of kind `kind`.
pub fn assert_root(s: &CapturedSpan, kind: SpanKind) {
    assert_eq!(s.parent_id(), SpanId::INVALID, "{} is a root", s.name());
    assert_eq!(s.kind(), kind);
}

/// Asserts the kind, an unset or ok status, and `http.response.status_code`.
pub fn assert_http(s: &CapturedSpan, kind: SpanKind, status: i64) {
    assert_eq!(s.kind(), kind, "{}", s.name());
    assert!(!s.is_error(), "{} is not an error", s.name());
    assert_eq!(
        s.attr("http.response.status_code"),
        Some(&o11y::opentelemetry::Value::I64(status)),
        "{}",
        s.name()
    );
}

// ---- metrics ----

/// The value of the Prometheus sample `name` with every label in `labels`
/// (`key="value"`), summed over the other labels; 0 when absent.
pub async fn metric(base: &str, name: &str, labels: &[&str]) -> f64 {
    let text = user_agent()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|label| rest.contains(label)))
                .then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}
