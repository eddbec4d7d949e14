//! Runs `#[o11y::main]` functions (the attribute works on any name) and checks
//! that telemetry is installed before the body and flushed on every way out.
//! One binary; the cases take a lock since each installs global providers.

use std::{
    error::Error,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use o11y::{
    config::ExporterKind,
    opentelemetry::{Context, trace::Status},
    opentelemetry_sdk::{
        Resource,
        error::OTelSdkResult,
        trace::{Span, SpanData, SpanProcessor},
    },
    traced,
};

/// A span processor that, like a batch exporter, only publishes on flush.
#[derive(Clone, Debug, Default)]
struct Probe(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    buffered: Vec<(String, Status)>,
    exported: Vec<(String, Status)>,
    shutdowns: usize,
    resource: Option<Resource>,
}

impl Probe {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn exported(&self, name: &str) -> Option<Status> {
        let state = self.state();
        state
            .exported
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, status)| status.clone())
    }

    fn resource(&self, key: &'static str) -> Option<String> {
        let resource = self.state().resource.clone()?;
        resource
            .get(&o11y::opentelemetry::Key::from_static_str(key))
            .map(|v| v.as_str().into_owned())
    }
}

impl SpanProcessor for Probe {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        self.state()
            .buffered
            .push((span.name.into_owned(), span.status));
    }

    fn force_flush(&self) -> OTelSdkResult {
        let mut state = self.state();
        let buffered = std::mem::take(&mut state.buffered);
        state.exported.extend(buffered);
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.force_flush()?;
        self.state().shutdowns += 1;
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.state().resource = Some(resource.clone());
    }
}

static PROBE: Mutex<Option<Probe>> = Mutex::new(None);
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the lock and installs a fresh probe for the next `#[o11y::main]`.
fn case() -> (MutexGuard<'static, ()>, Probe) {
    let lock = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let probe = Probe::default();
    *PROBE.lock().unwrap_or_else(PoisonError::into_inner) = Some(probe.clone());
    (lock, probe)
}

/// The `builder = ...` hook: no environment, no exporter (whatever features
/// the workspace build turns on), no global subscriber (a test process can
/// only have one), and the probe.
fn with_probe(builder: o11y::Builder) -> o11y::Builder {
    let probe = PROBE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .expect("case() installs a probe");
    builder
        .env_lookup(|_| None)
        .traces_exporter(ExporterKind::None)
        .metrics_exporter(ExporterKind::None)
        .logs_exporter(ExporterKind::None)
        .install_subscriber(false)
        .with_span_processor(probe)
}

/// A setting that makes `init` fail.
fn broken(builder: o11y::Builder) -> o11y::Builder {
    with_probe(builder).env_lookup(|name| (name == "OTEL_SDK_DISABLED").then(|| "maybe".into()))
}

#[traced]
async fn work(fail: bool) -> Result<u32, std::num::ParseIntError> {
    tokio::task::yield_now().await;
    if fail { "x" } else { "7" }.parse()
}

#[o11y::main(service = "checkout", version = "1.2.3", environment = "test", builder = with_probe, worker_threads = 2, shutdown_timeout_ms = 1000)]
async fn run_ok() -> u32 {
    work(false).await.unwrap_or_default()
}

#[test]
fn settings_reach_the_resource_and_spans_are_flushed_on_return() {
    let (_lock, probe) = case();
    assert_eq!(run_ok(), 7);
    assert_eq!(probe.state().shutdowns, 1);
    assert_eq!(probe.exported("main::work"), Some(Status::Unset));
    assert_eq!(probe.resource("service.name").as_deref(), Some("checkout"));
    assert_eq!(probe.resource("service.version").as_deref(), Some("1.2.3"));
    assert_eq!(
        probe.resource("deployment.environment.name").as_deref(),
        Some("test")
    );
}

#[o11y::main(builder = with_probe, flavor = "current_thread")]
async fn run_err() -> Result<(), Box<dyn Error>> {
    work(true).await?;
    Ok(())
}

#[test]
fn an_error_from_question_mark_still_flushes_and_the_service_defaults_to_the_package() {
    let (_lock, probe) = case();
    assert!(run_err().is_err());
    assert_eq!(probe.state().shutdowns, 1);
    assert_eq!(
        probe.exported("main::work"),
        Some(Status::error("invalid digit found in string"))
    );
    assert_eq!(
        probe.resource("service.name").as_deref(),
        Some("o11y-macros")
    );
}

#[traced]
async fn crash() {
    tokio::task::yield_now().await;
    panic!("crash");
}

#[o11y::main(builder = with_probe)]
async fn run_panic() {
    crash().await;
}

#[test]
fn a_panic_still_flushes() {
    let (_lock, probe) = case();
    assert!(std::panic::catch_unwind(run_panic).is_err());
    assert_eq!(probe.state().shutdowns, 1);
    assert_eq!(
        probe.exported("main::crash"),
        Some(Status::error("panicked"))
    );
}

#[traced]
async fn background(started: tokio::sync::oneshot::Sender<()>) {
    let _ = started.send(());
    std::future::pending::<()>().await;
}

#[o11y::main(builder = with_probe, flavor = "current_thread")]
async fn run_with_task_left_running() {
    let (started, running) = tokio::sync::oneshot::channel();
    tokio::spawn(background(started));
    running.await.expect("the task started");
}

#[test]
fn spans_of_tasks_still_running_at_exit_are_flushed_too() {
    let (_lock, probe) = case();
    run_with_task_left_running();
    assert_eq!(probe.state().shutdowns, 1);
    assert_eq!(probe.exported("main::background"), Some(Status::Unset));
}

#[o11y::main(builder = broken)]
async fn run_without_telemetry() -> u32 {
    work(false).await.unwrap_or_default() * 6
}

#[test]
fn when_init_fails_the_body_still_runs_without_telemetry() {
    let (_lock, probe) = case();
    assert_eq!(run_without_telemetry(), 42);
    let state = probe.state();
    assert_eq!(state.shutdowns, 0, "never installed");
    assert!(state.buffered.is_empty() && state.exported.is_empty());
}

#[o11y::main(builder = with_probe, shutdown_timeout_ms = 18446744073709551615)]
async fn run_with_the_largest_deadline() -> u32 {
    work(false).await.unwrap_or_default()
}

#[test]
fn the_largest_deadline_neither_panics_nor_overflows() {
    let (_lock, probe) = case();
    assert_eq!(run_with_the_largest_deadline(), 7);
    assert_eq!(probe.state().shutdowns, 1);
}

/// The receiving end of a channel a blocking task waits on: the task stays
/// busy until the test drops the sender.
static STUCK: Mutex<Option<std::sync::mpsc::Receiver<()>>> = Mutex::new(None);

fn stuck_blocking_task() {
    let stuck = STUCK.lock().unwrap_or_else(PoisonError::into_inner).take();
    tokio::task::spawn_blocking(move || stuck.map(|rx| rx.recv()));
}

#[o11y::main(builder = with_probe, shutdown_timeout_ms = 1000)]
async fn run_with_a_stuck_blocking_task() -> u32 {
    stuck_blocking_task();
    1
}

#[o11y::main(builder = with_probe, shutdown_timeout_ms = 1000)]
async fn panic_with_a_stuck_blocking_task() {
    stuck_blocking_task();
    panic!("crash");
}

#[test]
fn a_stuck_blocking_task_holds_the_exit_a_bounded_time_also_after_a_panic() {
    for panics in [false, true] {
        let (_lock, probe) = case();
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        *STUCK.lock().unwrap_or_else(PoisonError::into_inner) = Some(stuck);
        let start = std::time::Instant::now();
        if panics {
            assert!(std::panic::catch_unwind(panic_with_a_stuck_blocking_task).is_err());
        } else {
            assert_eq!(run_with_a_stuck_blocking_task(), 1);
        }
        let elapsed = start.elapsed();
        drop(release);
        // A correctness bound (the task would hold the exit forever), not a timing.
        assert!(
            elapsed < Duration::from_secs(5),
            "panics {panics}: {elapsed:?}"
        );
        assert_eq!(probe.state().shutdowns, 1);
    }
}
