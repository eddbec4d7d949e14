//! Scenario D: one trace across languages. A Python service (the
//! OpenTelemetry Python SDK with its Flask and requests instrumentation,
//! pinned, from PyPI into a venv under the target directory, cached between
//! runs) calls service A, which calls back into Python as its service B.
//! Python writes its spans to a file; A's are captured; the parents must
//! chain in both directions within one trace. And a message: Python adds a
//! job to a Redis stream with the context in the body's `traceContext`
//! field; service C consumes it in the same trace.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use o11y::opentelemetry::trace::{SpanId, SpanKind, TraceId};
use patterns::{Config, Telemetry};
use serde_json::Value;
use support::Trace;

/// The Python packages, pinned.
const PACKAGES: &[&str] = &[
    "opentelemetry-api==1.27.0",
    "opentelemetry-sdk==1.27.0",
    "opentelemetry-instrumentation-flask==0.48b0",
    "opentelemetry-instrumentation-requests==0.48b0",
    "flask==3.0.3",
    "requests==2.32.3",
    "redis==5.0.8",
];

const REDIS: &str = "redis://127.0.0.1:6379";

/// Prints the loud skip line, or fails under `O11Y_REQUIRE_SERVICES=1`.
fn skip(what: &str) {
    if std::env::var("O11Y_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("cross-language test: {what}, and O11Y_REQUIRE_SERVICES=1");
    }
    eprintln!("SKIPPED cross-language test: {what}");
}

/// The venv's python, made and filled on first use (once per binary, cached
/// between runs).
fn venv() -> Result<PathBuf, String> {
    static VENV: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    VENV.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross-language-venv");
        o11y::testing::python_venv(&dir, PACKAGES)
    })
    .clone()
}

/// Kills the Python service when the test ends, however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deletes the test's Redis keys when it ends, however it ends (each run
/// uses a new stream); bounded.
struct RedisKeys(Vec<String>);

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .args(["30", "redis-cli", "-h", "127.0.0.1", "DEL"])
            .args(&self.0)
            .output();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The spans Python wrote so far.
fn python_spans(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Starts the Python service on `port` and waits until it answers; the
/// file its spans go to.
async fn python_service(
    python: &Path,
    port: u16,
    rust_url: &str,
    extra: &[&str],
) -> (Service, PathBuf) {
    let spans_file =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-spans-{port}.jsonl"));
    let _ = std::fs::remove_file(&spans_file);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cross_language/service.py");
    let service = Service(
        Command::new(python)
            .arg(&script)
            .arg(port.to_string())
            .arg(rust_url)
            .arg(&spans_file)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the Python service did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling a starting process, bounded
    }
    (service, spans_file)
}

/// Waits (bounded) until Python wrote `n` spans.
async fn python_spans_at_least(file: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut spans = python_spans(file);
    while spans.len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await; // another process writes the file
        spans = python_spans(file);
    }
    spans
}

fn hex(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("0x")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_one_trace_from_python_to_rust_and_back() {
    let python = match tokio::task::block_in_place(venv) {
        Ok(python) => python,
        Err(why) => {
            return skip(&format!(
                "no Python venv with the OpenTelemetry SDK ({why})"
            ));
        }
    };
    support::logs();
    let capture = o11y::testing::Capture::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = listener.local_addr().unwrap();
    let py_port = free_port();
    let py = format!("http://127.0.0.1:{py_port}");
    let config = Config {
        listen: a,
        service_b: py.clone(), // A's "B" is the Python service
        telemetry: Telemetry::with_tracer_provider(capture.provider("service-a")),
        ..Config::from_lookup(0, |_| None).unwrap()
    };
    tokio::spawn(async move { axum::serve(listener, patterns::service_a::router(&config)).await });

    let (_service, spans_file) =
        python_service(&python, py_port, &format!("http://{a}"), &[]).await;
    let client = reqwest::Client::new();
    let answer = client.get(format!("{py}/start")).send().await.unwrap();
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.text().await.unwrap_or_default()
    );

    // Python: SERVER /start, CLIENT GET (to A), SERVER /process.
    let py_spans = python_spans_at_least(&spans_file, 3).await;
    assert_eq!(py_spans.len(), 3, "{py_spans:#?}");
    let find = |name: &str, kind: &str| {
        py_spans
            .iter()
            .find(|s| s["name"] == name && s["kind"] == kind)
            .unwrap_or_else(|| panic!("no Python {kind} {name}: {py_spans:#?}"))
    };
    let start = find("GET /start", "SpanKind.SERVER");
    let call = find("GET", "SpanKind.CLIENT");
    let process = find("GET /process", "SpanKind.SERVER");

    let trace = TraceId::from_hex(&hex(&start["context"]["trace_id"])).unwrap();
    let rust = Trace::of(&capture, trace, 2);
    let a_server = rust.one("service-a", SpanKind::Server, "GET /call/b");
    let a_client = rust.one("service-a", SpanKind::Client, "GET /process");

    // One trace, everywhere.
    for span in [start, call, process] {
        assert_eq!(
            hex(&span["context"]["trace_id"]),
            trace.to_string(),
            "{span}"
        );
    }
    assert!(start["parent_id"].is_null(), "Python's /start is the root");
    assert_eq!(hex(&call["parent_id"]), hex(&start["context"]["span_id"]));
    // Python -> Rust: A's SERVER span is a child of Python's CLIENT span.
    assert_eq!(
        a_server.parent_id(),
        SpanId::from_hex(&hex(&call["context"]["span_id"])).unwrap()
    );
    rust.assert_parent(a_client, a_server);
    // Rust -> Python: Python's /process is a child of A's CLIENT span.
    assert_eq!(hex(&process["parent_id"]), a_client.span_id().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_python_message_is_consumed_in_its_trace() {
    let python = match tokio::task::block_in_place(venv) {
        Ok(python) => python,
        Err(why) => {
            return skip(&format!(
                "no Python venv with the OpenTelemetry SDK ({why})"
            ));
        }
    };
    let transport = match o11y::queue::AnyTransport::connect("redis", Some(REDIS)).await {
        Ok(transport) => transport,
        Err(why) => return skip(&format!("Redis at {REDIS} not reachable ({why})")),
    };
    support::logs();
    let capture = o11y::testing::Capture::new();
    let queue = format!("d-jobs-{}-{}", std::process::id(), free_port());
    let _leftover = RedisKeys(vec![queue.clone(), format!("{queue}.dlq")]);
    let config = Config {
        jobs_queue: queue.clone(),
        telemetry: Telemetry::with_tracer_provider(capture.provider("service-c")),
        ..Config::from_lookup(0, |_| None).unwrap()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        patterns::service_c::consume_jobs(transport, &config, shutdown).await;
    });
    let port = free_port();
    let (_service, spans_file) =
        python_service(&python, port, "http://127.0.0.1:1", &[REDIS, &queue]).await;
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/publish"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.text().await.unwrap_or_default()
    );

    let py_spans = python_spans_at_least(&spans_file, 2).await;
    let producer = py_spans
        .iter()
        .find(|s| s["kind"] == "SpanKind.PRODUCER")
        .unwrap_or_else(|| panic!("no Python PRODUCER span: {py_spans:#?}"));
    let trace = TraceId::from_hex(&hex(&producer["context"]["trace_id"])).unwrap();
    let rust = Trace::of(&capture, trace, 1);
    let _ = stop.send(());
    consumer.await.unwrap();
    let process = rust.one("service-c", SpanKind::Consumer, &format!("process {queue}"));
    let parent = SpanId::from_hex(&hex(&producer["context"]["span_id"])).unwrap();
    assert_eq!(process.parent_id(), parent, "{}", rust.tree());
    let source = process.attr_str("o11y.messaging.context.source");
    assert_eq!(source.as_deref(), Some("json_field"));
    let outcome = process.attr_str("o11y.messaging.outcome");
    assert_eq!(outcome.as_deref(), Some("ack"));
    let lines = support::logs().of_trace(trace);
    assert!(
        lines.iter().any(|l| l["message"] == "job processed"),
        "{lines:?}"
    );
}
