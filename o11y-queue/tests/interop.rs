//! Interop: our traces continued by another language's OpenTelemetry SDK,
//! in both directions, on RabbitMQ and SQS.
//!
//! The other side is Python as a new user of its instrumentations would
//! write it (`tests/interop/*.py`): the SDK with its default W3C
//! propagators, `opentelemetry-instrumentation-pika` on a pika client and
//! `opentelemetry-instrumentation-boto3sqs` on a boto3 client, each
//! instrumentor switched on with `instrument()`, no hand-written injection
//! or extraction. Python writes its finished spans to stdout as JSON; ours
//! are captured in memory.
//!
//! - Rust -> Python: our `send` PRODUCER span must be the parent (pika) or
//!   the link (boto3sqs, which links its `process` span to the producer by
//!   design) of the Python consumer span.
//! - Python -> Rust: our `process` CONSUMER span continues the Python trace,
//!   its parent and link the Python PRODUCER span.
//!
//! The pinned packages go into a venv under the target directory on the
//! first run (cached after). No `python3`, no PyPI, or no broker: a loud
//! SKIP line, a failure under `O11Y_REQUIRE_SERVICES=1`.
#![cfg(any(feature = "amqp", feature = "sqs"))]

#[allow(unused_imports)]
mod support;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::OnceLock,
};

use o11y_core::testing::{CapturedSpan, python_venv};
use o11y_queue::{Consumer, Incoming, Producer, Transport, semconv};
use opentelemetry::{
    Context,
    trace::{SpanKind, TraceContextExt, Tracer, TracerProvider},
};
use serde_json::Value;
use support::{PATIENCE, unique_queue, wait_spans};

/// The Python packages, pinned (the SDK and instrumentations of one release).
const PACKAGES: &[&str] = &[
    "opentelemetry-api==1.45.1",
    "opentelemetry-sdk==1.45.1",
    "opentelemetry-semantic-conventions==0.66b1",
    "opentelemetry-instrumentation==0.66b1",
    "opentelemetry-instrumentation-pika==0.66b1",
    "opentelemetry-instrumentation-boto3sqs==0.66b1",
    "pika==1.4.4",
    "boto3==1.44.18",
    "botocore==1.44.18",
];

/// How the foreign consumer span refers to our producer span.
#[derive(Clone, Copy, Debug)]
enum Continues {
    /// Child of it, in our trace (pika).
    Parent,
    /// In a trace of its own, linked to it (boto3sqs).
    Link,
}

/// Prints the loud skip line, or fails under `O11Y_REQUIRE_SERVICES=1`.
fn skip(test: &str, why: &str) {
    if std::env::var("O11Y_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("{test}: {why}, and O11Y_REQUIRE_SERVICES=1");
    }
    let line = format!("SKIPPED: {test}: {why}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// The venv's python (made once per run of this binary, cached between runs).
fn venv() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-venv");
        python_venv(&dir, PACKAGES)
    })
    .clone()
}

/// Runs `tests/interop/{script}` to its end (bounded) and returns the spans
/// it wrote; panics with its stderr when it fails.
async fn python(python: &Path, script: &str, args: &[&str]) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let child = tokio::process::Command::new(python)
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(PATIENCE * 2, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} {args:?} did not finish"))
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} {args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A hex id of a Python span (`0x...`), as our ids print.
fn hex(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("0x")
        .to_owned()
}

fn trace_id(span: &Value) -> String {
    hex(&span["context"]["trace_id"])
}

fn span_id(span: &Value) -> String {
    hex(&span["context"]["span_id"])
}

/// The one Python span of `kind` named `name`.
fn one<'a>(spans: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s["kind"] == format!("SpanKind.{kind}") && s["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name} in {spans:#?}");
    found[0]
}

/// Our PRODUCER span publishes; the Python consumer continues it.
async fn rust_to_python<T: Transport + Clone>(
    t: T,
    py: &Path,
    script: &str,
    url: &str,
    q: &str,
    continues: Continues,
) {
    let (capture, provider) = support::cases::fixture();
    let request = provider.tracer("interop").start("request");
    let cx = Context::new().with_span(request);
    Producer::new(t)
        .with_tracer_provider(&provider)
        .publish_with_context(&cx, q, "from rust")
        .await
        .unwrap();
    cx.span().end();
    let send = format!("send {q}");
    let s = send.clone();
    let spans = wait_spans(&capture, move |spans| spans.named(&s).len() == 1).await;
    let ours = spans.find(&send);
    assert_eq!(ours.kind(), SpanKind::Producer);

    let theirs = python(py, script, &["consume", url, q]).await;
    match continues {
        Continues::Parent => {
            let received = one(&theirs, "CONSUMER", &format!("{q} receive"));
            assert_eq!(
                trace_id(received),
                ours.trace_id().to_string(),
                "{received}"
            );
            assert_eq!(hex(&received["parent_id"]), ours.span_id().to_string());
        }
        Continues::Link => {
            let process = one(&theirs, "CONSUMER", &format!("{q} process"));
            let links = process["links"].as_array().cloned().unwrap_or_default();
            assert_eq!(links.len(), 1, "{process}");
            assert_eq!(trace_id(&links[0]), ours.trace_id().to_string());
            assert_eq!(span_id(&links[0]), ours.span_id().to_string());
        }
    }
}

/// A Python PRODUCER span publishes inside its own trace; our consumer
/// continues it.
async fn python_to_rust<T: Transport + Clone>(t: T, py: &Path, script: &str, url: &str, q: &str) {
    let (capture, provider) = support::cases::fixture();
    let theirs = python(py, script, &["publish", url, q]).await;
    let root = one(&theirs, "INTERNAL", "python publisher");
    assert!(root["parent_id"].is_null(), "{root}");
    let trace = trace_id(root);
    // The instrumentation's PRODUCER span(s); pika 0.66b1 nests two, the
    // inner one is in the headers.
    let producers: Vec<String> = theirs
        .iter()
        .filter(|s| s["kind"] == "SpanKind.PRODUCER" && s["name"] == format!("{q} send"))
        .inspect(|s| assert_eq!(trace_id(s), trace, "{s}"))
        .map(span_id)
        .collect();
    assert!(
        !producers.is_empty(),
        "no Python PRODUCER span: {theirs:#?}"
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = Consumer::new(t).with_tracer_provider(&provider);
    let queue = q.to_owned();
    let running = tokio::spawn(async move {
        let handler = |_: Incoming| async { Ok::<_, String>(()) };
        consumer
            .run_until(&queue, handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    let name = format!("process {q}");
    let n = name.clone();
    let spans = wait_spans(&capture, move |spans| spans.named(&n).len() == 1).await;
    let _ = stop.send(());
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("consumer did not stop")
        .unwrap();

    let process: &CapturedSpan = spans.find(&name);
    assert_eq!(process.kind(), SpanKind::Consumer);
    assert_eq!(process.trace_id().to_string(), trace, "one trace");
    let parent = process.parent_id().to_string();
    assert!(producers.contains(&parent), "{parent} in {producers:?}");
    let linked = process.data.links.iter().any(|l| {
        l.span_context.span_id().to_string() == parent
            && l.span_context.trace_id() == process.trace_id()
    });
    assert!(linked, "process links to the Python PRODUCER span");
    assert_eq!(
        process.attr_str(semconv::CONTEXT_SOURCE).as_deref(),
        Some("native")
    );
    assert_eq!(process.attr_str(semconv::OUTCOME).as_deref(), Some("ack"));
}

/// The venv, or the skip line.
async fn venv_or_skip(test: &str) -> Option<PathBuf> {
    match tokio::task::spawn_blocking(venv).await.unwrap() {
        Ok(python) => Some(python),
        Err(why) => {
            skip(
                test,
                &format!("no Python venv with the OpenTelemetry SDK ({why})"),
            );
            None
        }
    }
}

#[cfg(feature = "amqp")]
mod amqp {
    use o11y_queue::{AmqpOptions, AmqpTransport};

    use super::*;

    fn url() -> String {
        std::env::var("O11Y_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
    }

    async fn setup(test: &str) -> Option<(AmqpTransport, PathBuf)> {
        let options = AmqpOptions::default().with_poll(std::time::Duration::from_millis(200));
        let t = match AmqpTransport::connect(&url(), options).await {
            Ok(t) => t,
            Err(e) => {
                skip(test, &format!("RabbitMQ at {} not reachable ({e})", url()));
                return None;
            }
        };
        Some((t, venv_or_skip(test).await?))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_producer_to_python_pika_consumer() {
        if let Some((t, py)) = setup("rust_producer_to_python_pika_consumer").await {
            let q = unique_queue("interop-to-python");
            let _cleanup = support::cleanup::amqp(&url(), &q);
            rust_to_python(t, &py, "amqp.py", &url(), &q, Continues::Parent).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn python_pika_producer_to_rust_consumer() {
        if let Some((t, py)) = setup("python_pika_producer_to_rust_consumer").await {
            let q = unique_queue("interop-from-python");
            let _cleanup = support::cleanup::amqp(&url(), &q);
            python_to_rust(t, &py, "amqp.py", &url(), &q).await;
        }
    }
}

#[cfg(feature = "sqs")]
mod sqs {
    use std::time::Duration;

    use o11y_queue::{SqsOptions, SqsTransport};

    use super::*;
    use crate::support::{sqs_client as client, sqs_url as url};

    async fn setup(test: &str) -> Option<(SqsTransport, PathBuf)> {
        let client = client();
        if let Err(e) = client.list_queues().max_results(1).send().await {
            skip(test, &format!("SQS at {} not reachable ({e})", url()));
            return None;
        }
        let options = SqsOptions::default()
            .with_wait(Duration::from_secs(1))
            .with_visibility_timeout(Duration::from_secs(5));
        let t = SqsTransport::new(client, options);
        Some((t, venv_or_skip(test).await?))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_producer_to_python_boto3sqs_consumer() {
        if let Some((t, py)) = setup("rust_producer_to_python_boto3sqs_consumer").await {
            let q = unique_queue("interop-to-python");
            let _cleanup = support::cleanup::sqs(client, &q);
            rust_to_python(t, &py, "sqs.py", &url(), &q, Continues::Link).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn python_boto3sqs_producer_to_rust_consumer() {
        if let Some((t, py)) = setup("python_boto3sqs_producer_to_rust_consumer").await {
            let q = unique_queue("interop-from-python");
            let _cleanup = support::cleanup::sqs(client, &q);
            t.queue_url(&q).await.unwrap(); // the queue the Python producer looks up
            python_to_rust(t, &py, "sqs.py", &url(), &q).await;
        }
    }
}
