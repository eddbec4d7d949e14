//! Run: `cargo run -p shop --bin shop`
//!
//! Starts the whole shop, each service its own process, with the ports and
//! peer URLs wired (gateway on `SHOP_PORT`, default 8080, the others on the
//! next six ports), waits until every `/health` answers, and stops them all
//! on Ctrl-C or SIGTERM. Order events go through Redis unless
//! `QUEUE_TRANSPORT`/`QUEUE_URL` say otherwise; audit rows go to
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Every `OTEL_*` variable is passed on.

use std::{path::PathBuf, process::ExitStatus, time::Duration};

use shop::{BoxError, env_or};
use tokio::process::{Child, Command};

/// A service: its binary and its place among the ports.
const SERVICES: [(&str, u16); 7] = [
    ("audit-service", 4),
    ("user-service", 1),
    ("payment-service", 3),
    ("order-service", 2),
    ("notification-service", 5),
    ("order-validator", 6),
    ("api-gateway", 0),
];

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let base = env_or("SHOP_PORT", "8080");
    let base: u16 = base
        .parse()
        .map_err(|e| format!("SHOP_PORT={base:?}: {e}"))?;
    if base > u16::MAX - 6 {
        return Err(format!("SHOP_PORT={base}: the shop needs seven ports from it").into());
    }
    let dir = binaries()?;
    let url = |offset: u16| format!("http://127.0.0.1:{}", base + offset);
    let shared = [
        ("USER_SERVICE_URL", url(1)),
        ("ORDER_SERVICE_URL", url(2)),
        ("PAYMENT_SERVICE_URL", url(3)),
        ("AUDIT_SERVICE_URL", url(4)),
        ("VALIDATOR_URL", url(6)),
        ("QUEUE_TRANSPORT", env_or("QUEUE_TRANSPORT", "redis")),
        ("QUEUE_URL", env_or("QUEUE_URL", "redis://127.0.0.1:6379")),
        (
            "DATABASE_URL",
            env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        ),
    ];
    let mut children = Vec::new();
    for (name, offset) in SERVICES {
        let child = Command::new(dir.join(name))
            .env("PORT", (base + offset).to_string())
            .envs(shared.iter().map(|(k, v)| (*k, v.as_str())))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        children.push((name, child));
    }
    let ready = tokio::select! {
        ready = wait_healthy(&url) => ready,
        (name, status) = first_exit(&mut children) => Err(format!("{name} exited: {status:?}")),
    };
    match ready {
        Ok(()) => {
            println!("\nshop is up: gateway on {}", url(0));
            println!(
                "  curl -s -X POST {}/api/checkout -H 'content-type: application/json' \\",
                url(0)
            );
            println!(
                "       -d '{{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"amount\":42.5,\"items\":[\"tea\"]}}'"
            );
            println!("Ctrl-C stops every service.\n");
            tokio::select! {
                () = o11y::shutdown_signal() => {}
                (name, status) = first_exit(&mut children) => eprintln!("{name} exited: {status:?}; stopping the shop"),
            }
        }
        Err(e) => eprintln!("the shop did not start: {e}"),
    }
    stop(children).await;
    Ok(())
}

/// The directory of the service binaries (this one's), built first when run
/// by cargo.
fn binaries() -> Result<PathBuf, BoxError> {
    if let Ok(cargo) = std::env::var("CARGO") {
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "shop", "--bins"])
            .status()?;
        if !status.success() {
            return Err("building the services failed".into());
        }
    }
    let exe = std::env::current_exe()?;
    Ok(exe.parent().map(PathBuf::from).unwrap_or_default())
}

/// Polls every service's `/health` for up to 60 s.
async fn wait_healthy(url: &impl Fn(u16) -> String) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (name, offset) in SERVICES {
        let health = format!("{}/health", url(offset));
        loop {
            let ok = client
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("{name} not healthy at {health} after 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// The first child to exit.
async fn first_exit(children: &mut [(&'static str, Child)]) -> (&'static str, ExitStatus) {
    loop {
        for (name, child) in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return (name, status);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGTERM to each service, then up to 10 s for all to exit; the rest are killed.
async fn stop(children: Vec<(&'static str, Child)>) {
    for (_, child) in &children {
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
    }
    for (name, mut child) in children {
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) => println!("{name} stopped ({status})"),
            _ => {
                let _ = child.kill().await;
                println!("{name} killed after 10 s");
            }
        }
    }
}
