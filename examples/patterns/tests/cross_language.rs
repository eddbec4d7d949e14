//! Scenario D: one trace across languages. A Python service (the
//! OpenTelemetry Python SDK with its Flask and requests instrumentation,
//! pinned, from PyPI into a venv under the target directory, cached between
//! runs) calls service A, which calls back into Python as its service B.
//! Python writes its spans to a file; A's are captured; the parents must
//! chain in both directions within one trace.

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
];

/// Prints the loud skip line, or fails under `O11Y_REQUIRE_SERVICES=1`.
fn skip(what: &str) {
    if std::env::var("O11Y_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("cross-language test: {what}, and O11Y_REQUIRE_SERVICES=1");
    }
    eprintln!("SKIPPED cross-language test: {what}");
}

/// The venv's python, made and filled on first use.
fn venv() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cross-language-venv");
    let python = dir.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import flask, requests, opentelemetry.instrumentation.flask",
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    let run = |cmd: &mut Command| match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{cmd:?} exited with {s}")),
        Err(e) => Err(format!("{cmd:?}: {e}")),
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    run(Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet"])
        .args(PACKAGES))?;
    Ok(python)
}

/// Kills the Python service when the test ends, however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

    let spans_file =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("python-spans-{py_port}.jsonl"));
    let _ = std::fs::remove_file(&spans_file);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cross_language/service.py");
    let _service = Service(
        Command::new(&python)
            .arg(&script)
            .arg(py_port.to_string())
            .arg(format!("http://{a}"))
            .arg(&spans_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{py}/health")).send().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the Python service did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling a starting process, bounded
    }

    let answer = client.get(format!("{py}/start")).send().await.unwrap();
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.text().await.unwrap_or_default()
    );

    // Python: SERVER /start, CLIENT GET (to A), SERVER /process.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut py_spans = python_spans(&spans_file);
    while py_spans.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await; // the file is written by another process
        py_spans = python_spans(&spans_file);
    }
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
