//! The shop as it runs for real: the `shop` launcher starts the seven
//! binaries as processes (Redis between orders and notifications,
//! PostgreSQL behind audit); one checkout crosses all of them in one trace,
//! visible in every process's JSON logs and in the audit row; SIGTERM stops
//! every service cleanly.

mod support;

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

/// The launcher; SIGTERM on drop, so its services never outlive the test.
struct Launcher {
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
}

impl Launcher {
    fn start(base: u16, queue: &str, table: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shop"))
            .env_remove("CARGO") // the binaries are built: no `cargo build`
            .env("SHOP_PORT", base.to_string())
            .env("QUEUE_TRANSPORT", "redis")
            .env("QUEUE_URL", "redis://127.0.0.1:6379")
            .env("ORDERS_QUEUE", queue)
            .env("AUDIT_TABLE", table)
            .env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
            .env("OTEL_TRACES_EXPORTER", "none")
            .env("OTEL_LOGS_EXPORTER", "none")
            .env_remove("OTEL_METRICS_EXPORTER")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, output }
    }

    /// Waits (bounded) until the output so far satisfies `done`.
    async fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let lines = self.output.lock().unwrap().clone();
            if done(&lines) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in:\n{}",
                lines.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_lines(&self) -> Vec<Value> {
        let lines = self.output.lock().unwrap();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
            let _ = self.child.wait();
        }
    }
}

/// Seven consecutive free loopback ports.
fn free_ports() -> u16 {
    let seed = u16::try_from(std::process::id() % 20_000).unwrap_or(0);
    (0..200u16)
        .map(|i| 20_000 + (seed + i * 97) % 40_000)
        .find(|base| (0..7).all(|p| TcpListener::bind(("127.0.0.1", base + p)).is_ok()))
        .expect("seven free ports")
}

#[tokio::test]
async fn the_binaries_serve_a_checkout_in_one_trace_and_stop_on_sigterm() {
    const TEST: &str = "the_binaries_serve_a_checkout_in_one_trace_and_stop_on_sigterm";
    if !reachable(6379).await {
        return skip(TEST, "redis on 127.0.0.1:6379");
    }
    if !reachable(5432).await {
        return skip(TEST, "postgresql on 127.0.0.1:5432");
    }
    let base = free_ports();
    let table = unique("processes");
    let mut shop = Launcher::start(base, &unique("processes"), &table);
    shop.wait_for("`shop is up`", |lines| {
        lines.iter().any(|l| l.starts_with("shop is up"))
    })
    .await;

    let correlation = unique("processes");
    let checkout =
        json!({"name": "Ada", "email": "ada@example.com", "amount": 42.5, "items": ["tea"]});
    let url = format!("http://127.0.0.1:{base}/api/checkout");
    let (status, body) = send(Method::POST, &url, &correlation, Some(checkout)).await;
    assert_eq!(status, 201, "{body}");

    // One line per hop, from each process, all in one trace.
    let hops = [
        ("api-gateway", "registered; placing the order"),
        ("user-service", "user registered"),
        ("user-service", "user found"),
        ("order-service", "order placed"),
        ("payment-service", "payment decided"),
        ("audit-service", "audit row written"),
        ("notification-service", "order confirmation sent"),
    ];
    let logged = |lines: &[Value], service: &str, message: &str| {
        lines
            .iter()
            .find(|l| {
                l["service"] == service
                    && l["message"] == message
                    && l["correlation_id"] == correlation.as_str()
            })
            .cloned()
    };
    shop.wait_for("a line from every hop", |_| {
        let lines = shop.log_lines();
        hops.iter().all(|(s, m)| logged(&lines, s, m).is_some())
    })
    .await;
    let lines = shop.log_lines();
    let trace =
        logged(&lines, "api-gateway", "registered; placing the order").unwrap()["trace_id"].clone();
    assert!(trace.as_str().is_some_and(|t| t.len() == 32), "{trace}");
    for (service, message) in hops {
        let line = logged(&lines, service, message).unwrap();
        assert_eq!(line["trace_id"], trace, "{service}: {line}");
    }

    // The audit row, in PostgreSQL, carries the same trace id.
    let (db, connection) = tokio_postgres::connect(
        "postgres://postgres@127.0.0.1:5432/test",
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let rows = db
        .query(format!("SELECT trace_id FROM {table}").as_str(), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(Some(rows[0].get::<_, String>(0).as_str()), trace.as_str());

    // The business metrics, from each process's /metrics.
    let gateway = format!("http://127.0.0.1:{base}");
    let orders = format!("http://127.0.0.1:{}", base + 2);
    let route = r#"route="/api/checkout""#;
    assert_eq!(
        metric(&gateway, "gateway_requests_total", &[route]).await,
        1.0
    );
    assert_eq!(metric(&orders, "orders_created_total", &[]).await, 1.0);

    // SIGTERM: every service stops by itself, exit status 0.
    shop.terminate();
    let deadline = Instant::now() + Duration::from_secs(30);
    while shop.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the shop stops within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shop.child.wait().unwrap().success());
    shop.wait_for("seven clean stops", |lines| {
        lines
            .iter()
            .filter(|l| l.ends_with("stopped (exit status: 0)"))
            .count()
            == 7
    })
    .await;
    db.batch_execute(&format!("DROP TABLE {table}"))
        .await
        .unwrap();
}
