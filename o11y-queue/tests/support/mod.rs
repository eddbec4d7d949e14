//! The one test suite every transport runs: see [`suite!`].

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cases;
pub mod cleanup;
pub mod rabbitmq;

pub use cleanup::Cleanup;

use std::{
    future::Future,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use o11y_core::testing::{Capture, Spans};
use o11y_queue::Transport;

/// How long any wait in a test may last before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A broker under test.
pub trait Harness: Send + Sync + 'static {
    /// The transport.
    type T: Transport + Clone;
    /// For messages and skip lines.
    const NAME: &'static str;
    /// A fresh connection to the broker (a restarted process), or `None`
    /// when the broker cannot be reached.
    fn connect(&self) -> impl Future<Output = Option<Self::T>> + Send;
    /// Simulates the death of the process owning `transport` (closes its
    /// connection, so the broker takes back what it handed out).
    fn crash(&self, transport: Self::T) -> impl Future<Output = ()> + Send {
        drop(transport);
        async {}
    }
    /// Deletes `queue` and every name the transport derived from it (dead
    /// letters, retry queues, processing lists) when the guard is dropped:
    /// each test holds one for each queue it uses.
    fn cleanup(&self, queue: &str) -> Cleanup {
        let _ = queue;
        Cleanup::none()
    }
}

/// Connects, or prints the loud skip line (and fails under `O11Y_REQUIRE_SERVICES=1`).
pub async fn connect_or_skip<H: Harness>(harness: &H, test: &str) -> Option<H::T> {
    if let Some(t) = harness.connect().await {
        return Some(t);
    }
    if std::env::var("O11Y_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!(
            "{}: server not reachable and O11Y_REQUIRE_SERVICES=1",
            H::NAME
        );
    }
    // Straight to the process's stderr, past the test harness's capture.
    let line = format!("SKIPPED: {test}: {} server not reachable\n", H::NAME);
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    None
}

/// A queue name no other test (or earlier run) uses.
pub fn unique_queue(case: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("o11y-test-{case}-{}-{nanos}-{n}", std::process::id())
}

/// Waits (off the runtime's threads) until `done` holds for the captured spans.
pub async fn wait_spans(
    capture: &Capture,
    done: impl Fn(&Spans) -> bool + Send + 'static,
) -> Spans {
    let capture = capture.clone();
    tokio::task::spawn_blocking(move || capture.wait_until(PATIENCE, done))
        .await
        .unwrap()
}

/// Runs a test body against a harness, skipping when the broker is down.
#[macro_export]
macro_rules! suite {
    ($harness:expr) => {
        $crate::suite!(@case $harness,
            traced_publish_continues_in_consumer,
            link_relation_starts_a_linked_trace,
            foreign_message_is_consumed_in_a_new_trace,
            json_trace_context_field_is_read,
            producer_can_write_the_json_field_and_envelope,
            corrupt_envelope_is_dead_lettered_not_lost,
            fails_twice_then_succeeds,
            always_failing_is_dead_lettered_after_n,
            a_permanent_error_is_dead_lettered_at_once,
            crash_mid_stream_then_restart_loses_nothing,
            graceful_stop_finishes_in_flight_work,
            batch_links_every_message,
            batch_failure_retries_each_then_dead_letters,
            sync_and_async_panics_are_failed_attempts,
            batch_panics_are_failed_attempts,
            shutdown_deadline_releases_unfinished_work,
            batch_settles_per_message_when_told_which_failed,
            slow_handler_keeps_its_lease
        );
    };
    (@case $harness:expr, $($case:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $harness;
                if let Some(transport) =
                    $crate::support::connect_or_skip(&harness, stringify!($case)).await
                {
                    $crate::support::cases::$case(&harness, transport).await;
                }
            }
        )+
    };
}

/// The SQS server the tests use: `O11Y_SQS_URL`, by default moto_server on
/// 127.0.0.1:5000.
#[cfg(feature = "sqs")]
pub fn sqs_url() -> String {
    std::env::var("O11Y_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

/// A client for [`sqs_url`]: test credentials, no retries, short timeouts.
#[cfg(feature = "sqs")]
pub fn sqs_client() -> aws_sdk_sqs::Client {
    use aws_sdk_sqs::config::{
        BehaviorVersion, Credentials, Region, retry::RetryConfig, timeout::TimeoutConfig,
    };
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(sqs_url())
        .http_client(o11y_queue::sqs_http_client())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}
