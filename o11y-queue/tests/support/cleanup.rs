//! [`Cleanup`]: deletes a test's queue, and every name its transport derived
//! from it, when the test ends, passed or failed.
//!
//! Every test uses a fresh queue name ([`unique_queue`](super::unique_queue)),
//! so without this each run leaves its queues behind: thousands of idle
//! quorum queues slow RabbitMQ down until it stops answering.

use std::{future::Future, pin::Pin, time::Duration};

/// The longest a cleanup may take; past it the names are left behind.
const LIMIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Runs its deletions when dropped (at the end of the test, or while a
/// failed test unwinds), on a thread and runtime of its own: a `Drop` cannot
/// await, and the test's runtime may be going away. Bounded by [`LIMIT`];
/// errors are ignored (the broker may be down, the names never created).
#[must_use = "the names are deleted when this is dropped"]
pub struct Cleanup(Option<Job>);

impl Cleanup {
    /// Deletes nothing (the memory transport).
    pub fn none() -> Self {
        Self(None)
    }

    fn new<F, Fut>(job: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self(Some(Box::new(move || Box::pin(job()))))
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some(job) = self.0.take() else {
            return;
        };
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let _ = tokio::time::timeout(LIMIT, job()).await;
            });
        });
        let _ = worker.join();
    }
}

/// The delays of every retry policy the tests use (and then some): a retry
/// queue is named after its delay, `{queue}.retry.{ms}ms`, and AMQP cannot
/// list queues, so the candidates are deleted by name. Deleting a queue that
/// does not exist is a no-op on RabbitMQ.
#[cfg(feature = "amqp")]
fn retry_delays_ms() -> std::collections::BTreeSet<u128> {
    let ms = Duration::from_millis;
    let mut delays = std::collections::BTreeSet::new();
    for base in [1, 5, 10, 20, 50, 100, 200, 1_000] {
        for cap in [1, 20, 40, 50, 100, 1_000, 10_000, 30_000] {
            let policy = o11y_queue::RetryPolicy::new(20).with_backoff(ms(base), ms(cap));
            delays.extend((1..=20).map(|n| policy.delay(n).as_millis()));
        }
    }
    delays
}

/// RabbitMQ: `queue`, `{queue}.dlq` (quorum queues) and its retry queues.
#[cfg(feature = "amqp")]
pub fn amqp(url: &str, queue: &str) -> Cleanup {
    use lapin::{Connection, ConnectionProperties, options::QueueDeleteOptions};

    let (url, queue) = (url.to_owned(), queue.to_owned());
    Cleanup::new(move || async move {
        let Ok(connection) = Connection::connect(&url, ConnectionProperties::default()).await
        else {
            return;
        };
        if let Ok(channel) = connection.create_channel().await {
            let retries = retry_delays_ms()
                .into_iter()
                .map(|ms| format!("{queue}.retry.{ms}ms"));
            let names = [queue.clone(), format!("{queue}.dlq")];
            for name in names.into_iter().chain(retries) {
                let options = QueueDeleteOptions::default();
                if channel.queue_delete(&name, options).await.is_err() {
                    break;
                }
            }
        }
        let _ = connection.close(200, "test cleanup").await;
    })
}

/// Redis (streams and lists): `queue` and every key named `{queue}.…` or
/// `{queue}:…` (its dead letters, delayed retries, processing lists,
/// consumer registry).
#[cfg(feature = "redis")]
pub fn redis(url: &str, queue: &str) -> Cleanup {
    use futures_util::StreamExt as _;
    use redis::AsyncCommands as _;

    let (url, queue) = (url.to_owned(), queue.to_owned());
    Cleanup::new(move || async move {
        let Ok(client) = redis::Client::open(url) else {
            return;
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return;
        };
        let mut keys = vec![queue.clone()];
        for pattern in [format!("{queue}.*"), format!("{queue}:*")] {
            let mut scan = conn.clone();
            let Ok(found) = scan.scan_match::<_, String>(pattern).await else {
                return;
            };
            keys.extend(
                found
                    .filter_map(|k| async { k.ok() })
                    .collect::<Vec<_>>()
                    .await,
            );
        }
        let _: Result<(), _> = conn.del(keys).await;
    })
}

/// SQS: `queue` and its dead-letter queue `{queue}-dlq`, through the client
/// `client` makes (on the cleanup's own runtime).
#[cfg(feature = "sqs")]
pub fn sqs<F>(client: F, queue: &str) -> Cleanup
where
    F: FnOnce() -> aws_sdk_sqs::Client + Send + 'static,
{
    let queue = queue.to_owned();
    Cleanup::new(move || async move {
        let client = client();
        for name in [queue.clone(), format!("{queue}-dlq")] {
            let Ok(found) = client.get_queue_url().queue_name(name).send().await else {
                continue;
            };
            if let Some(url) = found.queue_url() {
                let _ = client.delete_queue().queue_url(url).send().await;
            }
        }
    })
}
