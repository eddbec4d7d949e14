//! A service under load is stopped with SIGTERM: every span of every request
//! it completed reaches the OTLP receiver, and it exits within its deadline.
//!
//! The service is this binary run again (`harness = false`): with
//! `O11Y_SIGTERM_SERVICE` set, `main` runs the `#[o11y::main]` service below
//! (a line protocol over TCP: `N\n` in, `ok N\n` out, two spans per
//! request). Its batch delay is one minute, so the spans can only arrive
//! through the flush that SIGTERM starts. Two ways to stop are checked:
//! - `graceful`: the service stops accepting on `o11y::shutdown_signal()`
//!   and returns (exit status 0);
//! - `ignores`: the service never looks at signals; `#[o11y::main]` drops it
//!   after half the deadline and exits with 143 (128 + SIGTERM).

#[path = "../../o11y-core/tests/support/receiver.rs"]
mod receiver;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const MODE: &str = "O11Y_SIGTERM_SERVICE";
const DEADLINE: Duration = Duration::from_secs(4);
/// A correctness bound for the exit, not a performance figure.
const MARGIN: Duration = Duration::from_secs(3);
const CLIENTS: u64 = 4;
/// Per client: bounded, so the span queue (2 048) never drops.
const MAX_REQUESTS: u64 = 200;

fn main() {
    if std::env::var_os(MODE).is_some() {
        if let Err(e) = service() {
            eprintln!("service: {e}");
            std::process::exit(1);
        }
        return;
    }
    for mode in ["graceful", "ignores"] {
        every_completed_request_is_exported_after_sigterm(mode);
        println!("test every_completed_request_is_exported_after_sigterm({mode}) ... ok");
    }
}

// ---- the service ----

#[o11y::main(service = "sigterm-service", shutdown_timeout_ms = 4000)]
async fn service() -> std::io::Result<()> {
    let graceful = std::env::var(MODE).is_ok_and(|m| m == "graceful");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?);
    let stop = o11y::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                tokio::spawn(connection(accepted?.0));
            }
            () = &mut stop, if graceful => return Ok(()),
        }
    }
}

async fn connection(stream: tokio::net::TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(id) = line.trim().parse::<i64>() else {
            return Ok(());
        };
        // The request's spans have ended before the answer is written.
        let id = handle(id).await;
        write.write_all(format!("ok {id}\n").as_bytes()).await?;
    }
    Ok(())
}

#[o11y::traced]
async fn handle(id: i64) -> i64 {
    step().await;
    id
}

#[o11y::traced]
async fn step() {
    tokio::task::yield_now().await;
}

// ---- the test ----

fn every_completed_request_is_exported_after_sigterm(mode: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (receiver, endpoint) = receiver::Receiver::start(&rt);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(MODE, mode)
        .env("OTEL_TRACES_EXPORTER", "otlp")
        .env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_LOGS_EXPORTER", "none")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "60000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let address = listening_address(&mut child);

    let completed = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (completed, stop) = (completed.clone(), stop.clone());
            let address = address.clone();
            std::thread::spawn(move || client(&address, c, &completed, &stop))
        })
        .collect();
    // Load first: at least 50 requests done before the signal.
    let loaded = wait_until(Duration::from_secs(20), || {
        completed.lock().unwrap().len() >= 50
    });
    assert!(loaded, "{mode}: the service answered too few requests");
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_for_exit(&mut child, DEADLINE + MARGIN);
    let elapsed = sent.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    println!("{mode}: exited {elapsed:?} after SIGTERM with {status:?}");
    let status =
        status.unwrap_or_else(|| panic!("{mode}: still running {elapsed:?} after SIGTERM"));
    assert!(elapsed < DEADLINE + MARGIN, "{mode}: {elapsed:?}");
    match mode {
        "graceful" => assert_eq!(status.code(), Some(0)),
        _ => assert_eq!(status.code(), Some(143)),
    }

    let completed = completed.lock().unwrap().clone();
    let spans = receiver.spans();
    let handles: BTreeMap<String, _> = spans
        .iter()
        .filter(|s| s.name == "sigterm::handle")
        .filter_map(|s| Some((receiver::attribute(s, "id")?, s)))
        .collect();
    let missing: Vec<_> = completed
        .iter()
        .filter(|id| {
            let Some(handle) = handles.get(&id.to_string()) else {
                return true;
            };
            !spans
                .iter()
                .any(|s| s.name == "sigterm::step" && s.parent_span_id == handle.span_id)
        })
        .collect();
    println!(
        "{mode}: {} requests completed, {} spans received",
        completed.len(),
        spans.len()
    );
    assert!(
        missing.is_empty(),
        "{mode}: {} of {} completed requests lack spans: {:?}",
        missing.len(),
        completed.len(),
        &missing[..missing.len().min(10)]
    );
    rt.shutdown_background();
}

/// The service's first line: `listening ADDRESS`.
fn listening_address(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}

/// Sends requests one after another until stopped, refused, or at the cap;
/// records each id whose answer arrived.
fn client(address: &str, c: u64, completed: &Mutex<Vec<u64>>, stop: &AtomicBool) {
    let Ok(stream) = TcpStream::connect(address) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for i in 0..MAX_REQUESTS {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let id = c * 1_000_000 + i;
        if writer.write_all(format!("{id}\n").as_bytes()).is_err() {
            return;
        }
        let mut answer = String::new();
        match reader.read_line(&mut answer) {
            Ok(n) if n > 0 && answer.trim() == format!("ok {id}") => {
                completed.lock().unwrap().push(id);
            }
            _ => return,
        }
    }
}

fn wait_until(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// The exit status, or `None` if the child still runs after `timeout` (it is
/// then killed, so no process outlives the test).
fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
