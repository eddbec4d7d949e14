//! The smallest service: telemetry from the environment, a multi-thread runtime.
#![deny(warnings)]

#[o11y::traced]
async fn work() -> u8 {
    tokio::task::yield_now().await;
    1
}

#[o11y::main]
async fn main() {
    assert_eq!(work().await, 1);
}
