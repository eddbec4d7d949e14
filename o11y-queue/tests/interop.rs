//! Interop: our traces continued by another language's OpenTelemetry SDK,
//! in both directions, on RabbitMQ and SQS.
//!
//! The other side is written as a new user of its instrumentations would
//! write it, the SDK with its default W3C propagators and no hand-written
//! injection or extraction:
//! - Python (`tests/interop/*.py`): `opentelemetry-instrumentation-pika` on
//!   a pika client and `opentelemetry-instrumentation-boto3sqs` on a boto3
//!   client, each switched on with `instrument()`;
//! - Node.js (`tests/interop/js/*.cjs`): `@opentelemetry/instrumentation-amqplib`
//!   on amqplib and `@opentelemetry/instrumentation-aws-sdk` on the AWS SDK
//!   v3's SQS client, registered before the client is loaded.
//!
//! The other side writes its finished spans to stdout as JSON lines; ours
//! are captured in memory.
//!
//! - Rust -> other: our `send` PRODUCER span must be the parent (pika,
//!   amqplib) or the link (boto3sqs and aws-sdk, which link their consumer
//!   span to the producer by design) of the other side's consumer span.
//! - Other -> Rust: our `process` CONSUMER span continues the other trace,
//!   its parent and link the other side's PRODUCER span.
//!
//! The pinned packages are installed under the target directory on the
//! first run (a venv; `npm ci` from `tests/interop/js/package-lock.json`)
//! and cached after. No `python3` or `node`, no registry, or no broker: a
//! loud SKIP line, a failure under `O11Y_REQUIRE_SERVICES=1`.
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
    /// `{queue} {operation}`, a child of it in our trace (pika: `receive`;
    /// amqplib: `process`).
    Parent(&'static str),
    /// `{queue} {operation}` in a trace of its own, linked to it (boto3sqs:
    /// `process`; aws-sdk: `receive`).
    Link(&'static str),
}

/// The other side: a program and its environment.
struct Foreign {
    program: PathBuf,
    /// Where it finds its packages (`NODE_PATH`), if it needs telling.
    node_path: Option<PathBuf>,
}

impl Foreign {
    fn python(python: PathBuf) -> Self {
        Self {
            program: python,
            node_path: None,
        }
    }
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

/// The Node.js packages, from `tests/interop/js/package-lock.json`
/// (installed once per run of this binary, cached between runs).
fn node_modules() -> Result<PathBuf, String> {
    static MODULES: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    MODULES
        .get_or_init(|| {
            let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/js");
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-node");
            let read = |p: PathBuf| std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()));
            let lock = read(from.join("package-lock.json"))?;
            let modules = dir.join("node_modules");
            // `npm ci` writes the lock file it installed into node_modules.
            if read(modules.join(".package-lock.json")).is_ok()
                && read(dir.join("package-lock.json")).ok() == Some(lock.clone())
            {
                return Ok(modules);
            }
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for file in ["package.json", "package-lock.json"] {
                std::fs::copy(from.join(file), dir.join(file))
                    .map_err(|e| format!("{file}: {e}"))?;
            }
            // Bounded: a registry that stalls fails the install, not CI.
            let status = std::process::Command::new("timeout")
                .args([
                    "300",
                    "npm",
                    "ci",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .status();
            match status {
                Ok(s) if s.success() => Ok(modules),
                Ok(s) if s.code() == Some(124) => Err("npm ci took over 300 s".to_owned()),
                Ok(s) => Err(format!("npm ci exited with {s}")),
                Err(e) => Err(format!("timeout npm ci: {e}")),
            }
        })
        .clone()
}

/// Runs `tests/interop/{script}` to its end (bounded) and returns the spans
/// it wrote; panics with its stderr when it fails.
async fn foreign(side: &Foreign, script: &str, args: &[&str]) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let mut command = tokio::process::Command::new(&side.program);
    if let Some(modules) = &side.node_path {
        command.env("NODE_PATH", modules);
    }
    let child = command
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

/// A hex id of a foreign span (`0x...`), as our ids print.
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

/// The one foreign span of `kind` named `name`.
fn one<'a>(spans: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s["kind"] == format!("SpanKind.{kind}") && s["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {name} in {spans:#?}");
    found[0]
}

/// Our PRODUCER span publishes; the foreign consumer continues it.
async fn rust_to_foreign<T: Transport + Clone>(
    t: T,
    side: &Foreign,
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

    let theirs = foreign(side, script, &["consume", url, q]).await;
    match continues {
        Continues::Parent(operation) => {
            let received = one(&theirs, "CONSUMER", &format!("{q} {operation}"));
            assert_eq!(
                trace_id(received),
                ours.trace_id().to_string(),
                "{received}"
            );
            assert_eq!(hex(&received["parent_id"]), ours.span_id().to_string());
        }
        Continues::Link(operation) => {
            let process = one(&theirs, "CONSUMER", &format!("{q} {operation}"));
            let links = process["links"].as_array().cloned().unwrap_or_default();
            assert_eq!(links.len(), 1, "{process}");
            assert_eq!(trace_id(&links[0]), ours.trace_id().to_string());
            assert_eq!(span_id(&links[0]), ours.span_id().to_string());
        }
    }
}

/// A foreign PRODUCER span publishes inside a trace of its own, under a
/// span named `root`; our consumer continues it.
async fn foreign_to_rust<T: Transport + Clone>(
    t: T,
    side: &Foreign,
    (script, root): (&str, &str),
    url: &str,
    q: &str,
) {
    let (capture, provider) = support::cases::fixture();
    let theirs = foreign(side, script, &["publish", url, q]).await;
    let root = one(&theirs, "INTERNAL", root);
    assert!(root["parent_id"].is_null(), "{root}");
    let trace = trace_id(root);
    // The instrumentation's PRODUCER span(s), whatever it names them
    // (`{queue} send`, amqplib's `publish <default>`); pika 0.66b1 nests
    // two, the inner one is in the headers.
    let producers: Vec<String> = theirs
        .iter()
        .filter(|s| s["kind"] == "SpanKind.PRODUCER")
        .inspect(|s| assert_eq!(trace_id(s), trace, "{s}"))
        .map(span_id)
        .collect();
    assert!(
        !producers.is_empty(),
        "no foreign PRODUCER span: {theirs:#?}"
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
    assert!(linked, "process links to the foreign PRODUCER span");
    assert_eq!(
        process.attr_str(semconv::CONTEXT_SOURCE).as_deref(),
        Some("native")
    );
    assert_eq!(process.attr_str(semconv::OUTCOME).as_deref(), Some("ack"));
}

/// The language of the other side.
#[derive(Clone, Copy, Debug)]
enum Lang {
    Python,
    Node,
}

/// The other side in `lang`, ready to run, or the skip line.
async fn side_or_skip(test: &str, lang: Lang) -> Option<Foreign> {
    match lang {
        Lang::Python => venv_or_skip(test).await,
        Lang::Node => node_or_skip(test).await,
    }
}

/// Python in the venv, or the skip line.
async fn venv_or_skip(test: &str) -> Option<Foreign> {
    match tokio::task::spawn_blocking(venv).await.unwrap() {
        Ok(python) => Some(Foreign::python(python)),
        Err(why) => {
            skip(
                test,
                &format!("no Python venv with the OpenTelemetry SDK ({why})"),
            );
            None
        }
    }
}

/// Node.js with the packages installed, or the skip line.
async fn node_or_skip(test: &str) -> Option<Foreign> {
    let version = std::process::Command::new("node").arg("--version").output();
    if let Err(e) = version {
        skip(test, &format!("no node ({e})"));
        return None;
    }
    match tokio::task::spawn_blocking(node_modules).await.unwrap() {
        Ok(modules) => Some(Foreign {
            program: PathBuf::from("node"),
            node_path: Some(modules),
        }),
        Err(why) => {
            skip(
                test,
                &format!("no Node.js packages of the OpenTelemetry SDK ({why})"),
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

    async fn transport(test: &str) -> Option<AmqpTransport> {
        let options = AmqpOptions::default().with_poll(std::time::Duration::from_millis(200));
        match AmqpTransport::connect(&url(), options).await {
            Ok(t) => Some(t),
            Err(e) => {
                skip(test, &format!("RabbitMQ at {} not reachable ({e})", url()));
                None
            }
        }
    }

    async fn setup(test: &str, lang: Lang) -> Option<(AmqpTransport, Foreign)> {
        let t = transport(test).await?;
        Some((t, side_or_skip(test, lang).await?))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_producer_to_python_pika_consumer() {
        if let Some((t, py)) = setup("rust_producer_to_python_pika_consumer", Lang::Python).await {
            let q = unique_queue("interop-to-python");
            let _cleanup = support::cleanup::amqp(&url(), &q);
            let parent = Continues::Parent("receive");
            rust_to_foreign(t, &py, "amqp.py", &url(), &q, parent).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn python_pika_producer_to_rust_consumer() {
        if let Some((t, py)) = setup("python_pika_producer_to_rust_consumer", Lang::Python).await {
            let q = unique_queue("interop-from-python");
            let _cleanup = support::cleanup::amqp(&url(), &q);
            let script = ("amqp.py", "python publisher");
            foreign_to_rust(t, &py, script, &url(), &q).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_producer_to_node_amqplib_consumer() {
        if let Some((t, node)) = setup("rust_producer_to_node_amqplib_consumer", Lang::Node).await {
            let q = unique_queue("interop-to-node");
            let _cleanup = support::cleanup::amqp(&url(), &q);
            let parent = Continues::Parent("process");
            rust_to_foreign(t, &node, "js/amqp.cjs", &url(), &q, parent).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn node_amqplib_producer_to_rust_consumer() {
        if let Some((t, node)) = setup("node_amqplib_producer_to_rust_consumer", Lang::Node).await {
            let q = unique_queue("interop-from-node");
            let _cleanup = support::cleanup::amqp(&url(), &q);
            let script = ("js/amqp.cjs", "node publisher");
            foreign_to_rust(t, &node, script, &url(), &q).await;
        }
    }
}

#[cfg(feature = "sqs")]
mod sqs {
    use std::time::Duration;

    use o11y_queue::{SqsOptions, SqsTransport};

    use super::*;
    use crate::support::{sqs_client as client, sqs_url as url};

    async fn transport(test: &str) -> Option<SqsTransport> {
        let client = client();
        if let Err(e) = client.list_queues().max_results(1).send().await {
            skip(test, &format!("SQS at {} not reachable ({e})", url()));
            return None;
        }
        let options = SqsOptions::default()
            .with_wait(Duration::from_secs(1))
            .with_visibility_timeout(Duration::from_secs(5));
        Some(SqsTransport::new(client, options))
    }

    async fn setup(test: &str, lang: Lang) -> Option<(SqsTransport, Foreign)> {
        let t = transport(test).await?;
        Some((t, side_or_skip(test, lang).await?))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_producer_to_python_boto3sqs_consumer() {
        if let Some((t, py)) =
            setup("rust_producer_to_python_boto3sqs_consumer", Lang::Python).await
        {
            let q = unique_queue("interop-to-python");
            let _cleanup = support::cleanup::sqs(client, &q);
            let link = Continues::Link("process");
            rust_to_foreign(t, &py, "sqs.py", &url(), &q, link).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn python_boto3sqs_producer_to_rust_consumer() {
        if let Some((t, py)) =
            setup("python_boto3sqs_producer_to_rust_consumer", Lang::Python).await
        {
            let q = unique_queue("interop-from-python");
            let _cleanup = support::cleanup::sqs(client, &q);
            t.queue_url(&q).await.unwrap(); // the queue the Python producer looks up
            let script = ("sqs.py", "python publisher");
            foreign_to_rust(t, &py, script, &url(), &q).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_producer_to_node_aws_sdk_consumer() {
        if let Some((t, node)) = setup("rust_producer_to_node_aws_sdk_consumer", Lang::Node).await {
            let q = unique_queue("interop-to-node");
            let _cleanup = support::cleanup::sqs(client, &q);
            let link = Continues::Link("receive");
            rust_to_foreign(t, &node, "js/sqs.cjs", &url(), &q, link).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn node_aws_sdk_producer_to_rust_consumer() {
        if let Some((t, node)) = setup("node_aws_sdk_producer_to_rust_consumer", Lang::Node).await {
            let q = unique_queue("interop-from-node");
            let _cleanup = support::cleanup::sqs(client, &q);
            t.queue_url(&q).await.unwrap(); // the queue the Node.js producer looks up
            let script = ("js/sqs.cjs", "node publisher");
            foreign_to_rust(t, &node, script, &url(), &q).await;
        }
    }
}
