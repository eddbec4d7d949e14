//! A message that kills its consumer process: the consumer runs in a child
//! process (this test binary started again on [`crash_child`]) and is killed
//! with SIGKILL inside the poison message's handler, again and again. The
//! broker counts each delivery before the handler runs, so after
//! `MAX_ATTEMPTS` kills the next consumer dead-letters the poison with its
//! reason and attempt count instead of running it, and every other message
//! is processed, none left behind.
//!
//! Against Redis Streams, Redis lists, RabbitMQ (quorum queues) and SQS
//! (moto_server) on 127.0.0.1; each skips loudly when its server is down.

// The suite's cases are not run here, only its helpers.
#[allow(unused_imports)]
mod support;

use std::{
    collections::BTreeSet,
    io::{BufRead as _, BufReader, Read as _},
    process::{Child, Command, Stdio},
    time::Duration,
};

use o11y_queue::{
    Consumer, DEAD_LETTER_ATTEMPTS, DEAD_LETTER_REASON, Incoming, Message, Producer, RetryPolicy,
    Transport,
};
use support::{Harness, connect_or_skip, unique_queue};
use tokio::{sync::mpsc, time::Instant};

const MAX_ATTEMPTS: u32 = 3;
/// Which broker the child consumes from, and the queue.
const KIND: &str = "O11Y_CRASH_KIND";
const QUEUE: &str = "O11Y_CRASH_QUEUE";
/// The bound on one whole crash test.
const DEADLINE: Duration = Duration::from_secs(60);

#[cfg(feature = "redis")]
mod brokers {
    use std::time::Duration;

    use o11y_queue::{RedisListTransport, RedisOptions, RedisTransport};

    use super::Harness;

    fn url() -> String {
        std::env::var("O11Y_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    fn options() -> RedisOptions {
        RedisOptions::default()
            .with_claim_idle(Duration::from_secs(1))
            .with_block(Duration::from_millis(200))
    }

    pub struct Redis;

    impl Harness for Redis {
        type T = RedisTransport;
        const NAME: &'static str = "redis";
        async fn connect(&self) -> Option<RedisTransport> {
            RedisTransport::connect(&url(), options()).await.ok()
        }
        fn cleanup(&self, queue: &str) -> crate::support::Cleanup {
            crate::support::cleanup::redis(&url(), queue)
        }
    }

    pub struct RedisList;

    impl Harness for RedisList {
        type T = RedisListTransport;
        const NAME: &'static str = "redis (lists)";
        async fn connect(&self) -> Option<RedisListTransport> {
            RedisListTransport::connect(&url(), options()).await.ok()
        }
        fn cleanup(&self, queue: &str) -> crate::support::Cleanup {
            crate::support::cleanup::redis(&url(), queue)
        }
    }
}

#[cfg(feature = "amqp")]
mod rabbit {
    use o11y_queue::{AmqpOptions, AmqpTransport};

    use super::Harness;

    pub struct Amqp;

    fn url() -> String {
        std::env::var("O11Y_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
    }

    impl Harness for Amqp {
        type T = AmqpTransport;
        const NAME: &'static str = "rabbitmq";
        async fn connect(&self) -> Option<AmqpTransport> {
            // Prefetch as deep as the consumer's concurrency: a delivery
            // prefetched when its consumer dies is counted too.
            let options = AmqpOptions::default()
                .with_prefetch(1)
                .with_poll(std::time::Duration::from_millis(200));
            AmqpTransport::connect(&url(), options).await.ok()
        }
        fn cleanup(&self, queue: &str) -> crate::support::Cleanup {
            crate::support::cleanup::amqp(&url(), queue)
        }
    }
}

#[cfg(feature = "sqs")]
mod aws {
    use std::time::Duration;

    use o11y_queue::{SqsOptions, SqsTransport};

    use super::Harness;

    pub struct Sqs;

    use crate::support::sqs_client as client;

    impl Harness for Sqs {
        type T = SqsTransport;
        const NAME: &'static str = "sqs (moto)";
        async fn connect(&self) -> Option<SqsTransport> {
            let client = client();
            client.list_queues().max_results(1).send().await.ok()?;
            let options = SqsOptions::default()
                .with_wait(Duration::from_millis(500))
                .with_visibility_timeout(Duration::from_secs(1));
            Some(SqsTransport::new(client, options))
        }
        fn cleanup(&self, queue: &str) -> crate::support::Cleanup {
            crate::support::cleanup::sqs(client, queue)
        }
    }
}

/// The consumer process of the crash tests (they start this test binary
/// again on this function alone). Returns at once when not started by them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the consumer process the crash tests start and kill"]
async fn crash_child() {
    let (Ok(kind), Ok(queue)) = (std::env::var(KIND), std::env::var(QUEUE)) else {
        return;
    };
    match kind.as_str() {
        #[cfg(feature = "redis")]
        "redis" => consume(brokers::Redis.connect().await.expect("redis"), &queue).await,
        #[cfg(feature = "redis")]
        "redis-list" => consume(brokers::RedisList.connect().await.expect("redis"), &queue).await,
        #[cfg(feature = "amqp")]
        "amqp" => consume(rabbit::Amqp.connect().await.expect("rabbitmq"), &queue).await,
        #[cfg(feature = "sqs")]
        "sqs" => consume(aws::Sqs.connect().await.expect("sqs"), &queue).await,
        other => panic!("unknown broker {other}"),
    }
}

/// Consumes until stdin closes: `IN-HANDLER {attempt}` then hangs on the
/// poison message, `DONE {body} {attempt}` for the others.
async fn consume<T: Transport>(t: T, queue: &str) {
    let handler = |m: Incoming| {
        let body = String::from_utf8_lossy(&m.payload).into_owned();
        async move {
            if body == "poison" {
                println!("IN-HANDLER {}", m.attempt);
                std::future::pending::<()>().await;
            }
            println!("DONE {body} {}", m.attempt);
            Ok::<_, String>(())
        }
    };
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    });
    let retry = RetryPolicy::new(MAX_ATTEMPTS)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50));
    Consumer::new(t)
        .with_retry(retry)
        .run_until(queue, handler, async {
            let _ = stdin_closed.await;
        })
        .await;
    println!("STOPPED");
}

/// A running consumer process and the lines it printed.
struct ChildConsumer {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl ChildConsumer {
    fn start(kind: &str, queue: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["crash_child", "--exact", "--ignored", "--nocapture"])
            .env(KIND, kind)
            .env(QUEUE, queue)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the consumer process");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// SIGKILL, as the OOM killer or `kill -9` would.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Closes stdin (a graceful stop) and waits for the exit, bounded.
    async fn stop(mut self, deadline: Instant) {
        drop(self.child.stdin.take());
        while self.lines.recv().await.is_some_and(|l| l != "STOPPED") {
            assert!(Instant::now() < deadline, "the consumer did not stop");
        }
        let status = self.child.wait().expect("exit status");
        assert!(status.success(), "the consumer process failed: {status}");
    }
}

/// One receive of `queue`, acked.
async fn take<T: Transport>(t: &T, queue: &str) -> Option<Message> {
    let delivery = t.receive(queue, 1).await.expect("receive").pop()?;
    t.ack(queue, &delivery).await.expect("ack");
    Some(delivery.message)
}

/// The poison kills `MAX_ATTEMPTS` consumer processes, then is dead-lettered
/// with its reason and attempt count; the other messages are all processed
/// and nothing is left in the queue.
async fn poison_that_kills_the_process<H: Harness>(h: H, kind: &str, redelivery: Duration) {
    let Some(t) = connect_or_skip(&h, &format!("crash ({kind})")).await else {
        return;
    };
    let deadline = Instant::now() + DEADLINE;
    let q = unique_queue(&format!("crash-{kind}"));
    let _cleanup = h.cleanup(&q);
    let producer = Producer::new(t.clone());
    let others: BTreeSet<String> = (0..10).map(|i| format!("m{i}")).collect();
    for (i, body) in others.iter().enumerate() {
        if i == 3 {
            producer.publish(&q, "poison").await.unwrap();
        }
        producer.publish(&q, body.clone()).await.unwrap();
    }
    let dlq = t.dead_letter_destination(&q);
    let (mut kills, mut poisoned_attempts, mut done) = (0, Vec::new(), BTreeSet::new());
    let mut dead = None;
    let mut consumer = ChildConsumer::start(kind, &q);
    while dead.is_none() || done != others {
        assert!(
            Instant::now() < deadline,
            "{kind}: not settled in time: kills {kills}, done {done:?}, dead letter {}",
            dead.is_some()
        );
        let mut lines = Vec::new();
        while let Ok(line) = consumer.lines.try_recv() {
            lines.push(line);
        }
        if dead.is_none() {
            // Waits up to the transport's poll time: the loop's pace.
            dead = take(&t, &dlq).await;
        } else if lines.is_empty() {
            if let Ok(Some(line)) = tokio::time::timeout(redelivery, consumer.lines.recv()).await {
                lines.push(line);
            }
        }
        for line in lines {
            let mut words = line.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("IN-HANDLER"), Some(attempt), None) => {
                    poisoned_attempts.push(attempt.parse::<u32>().unwrap());
                    consumer.kill();
                    kills += 1;
                    assert!(kills <= MAX_ATTEMPTS, "{kind}: the poison ran again");
                    consumer = ChildConsumer::start(kind, &q);
                }
                (Some("DONE"), Some(body), Some(_)) => {
                    done.insert(body.to_owned());
                }
                _ => {}
            }
        }
    }
    consumer.stop(deadline).await;

    let dead = support::cases::opened(&t, dead.unwrap());
    assert_eq!(kills, MAX_ATTEMPTS, "{kind}");
    assert_eq!(
        poisoned_attempts,
        [1, 2, 3],
        "{kind}: counted before each run"
    );
    assert_eq!(&dead.payload[..], b"poison");
    assert_eq!(dead.headers[DEAD_LETTER_ATTEMPTS], MAX_ATTEMPTS.to_string());
    assert!(
        dead.headers[DEAD_LETTER_REASON].contains("never settled"),
        "{:?}",
        dead.headers
    );
    assert_eq!(done, others, "{kind}: every other message processed");
    // Nothing stranded: past the broker's redelivery time, nothing comes back.
    let quiet = Instant::now() + redelivery + Duration::from_millis(500);
    while Instant::now() < quiet {
        let left = take(&t, &q).await;
        assert!(left.is_none(), "{kind}: left in the queue: {left:?}");
    }
    assert!(take(&t, &dlq).await.is_none(), "{kind}: one dead letter");
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_poison_killing_the_process_is_dead_lettered() {
    poison_that_kills_the_process(brokers::Redis, "redis", Duration::from_secs(1)).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lists_poison_killing_the_process_is_dead_lettered() {
    poison_that_kills_the_process(brokers::RedisList, "redis-list", Duration::from_secs(1)).await;
}

#[cfg(feature = "amqp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_poison_killing_the_process_is_dead_lettered() {
    poison_that_kills_the_process(rabbit::Amqp, "amqp", Duration::from_millis(200)).await;
}

#[cfg(feature = "sqs")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_poison_killing_the_process_is_dead_lettered() {
    poison_that_kills_the_process(aws::Sqs, "sqs", Duration::from_secs(1)).await;
}
