//! Publish + consume throughput against real brokers, in one run: the raw
//! client (also carrying a constant `traceparent`, to show what the context's
//! bytes cost the broker), this crate's transport without spans, and
//! `Producer`/`Consumer` with a no-op tracer and with a sampled SDK tracer
//! (batch processor, exporter that drops), together and one side at a time.
//!
//! `cargo bench -p o11y-queue --features redis,amqp --bench throughput`
//! (Redis on 127.0.0.1:6379, RabbitMQ on 127.0.0.1:5672; a missing broker is skipped).
//!
//! After criterion's figures, a paired phase runs every variant of a broker
//! once per round, in a rotating order, for `O11Y_BENCH_ROUNDS` rounds
//! (default 40, after 3 unmeasured warm-up rounds), and prints the median of
//! the per-round throughput ratios against the raw client: on a shared
//! 2-core machine, load drifts between criterion's back-to-back groups,
//! while within a round it hits every variant alike.
//! `O11Y_BENCH_BROKERS=redis` (or `amqp`) runs one broker;
//! `O11Y_BENCH_ONLY=raw,instrumented` runs only the variants named.
//!
//! Both sides do the same work: the same payload, persistent and confirmed
//! (AMQP: `mandatory`, quorum queue) or capped and deleted once acked
//! (Redis: `MAXLEN ~`, `XACK` + `XDEL`), one ack call per read on Redis,
//! one connection for publishes and acks plus one for reads. The run deletes
//! its streams and queues when it ends.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{StreamExt, future::BoxFuture};
use o11y_queue::{
    AmqpOptions, AmqpTransport, Consumer, Incoming, Message, Producer, RedisOptions,
    RedisTransport, Transport,
};
use opentelemetry::{
    global::ObjectSafeTracerProvider,
    trace::{TracerProvider, noop::NoopTracerProvider},
};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter},
};
use tokio::{runtime::Runtime, sync::Notify};

/// Messages per iteration.
const N: u64 = 200;
/// Unmeasured rounds of every variant before the paired rounds.
const WARM_UP: usize = 3;
const PAYLOAD: &[u8] = br#"{"order":42,"items":[1,2,3],"note":"benchmark payload"}"#;
const REDIS: &str = "redis://127.0.0.1:6379";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// What `raw_traceparent` adds to every message: the bytes a sampled
/// context costs the broker and its client, without any of this crate.
const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[derive(Debug)]
struct DropExporter;

impl SpanExporter for DropExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// Messages consumed so far, and a way to wait for a count. The waiter is
/// woken once its count is reached, not on every add: a consumer that counts
/// message by message (a handler per message) pays no more wake-ups of the
/// measuring thread than one that counts a batch at once.
#[derive(Default)]
struct Counter {
    n: AtomicU64,
    target: AtomicU64,
    notify: Notify,
}

impl Counter {
    /// Sets the count whose arrival wakes the waiter; returns it.
    fn expect(&self, more: u64) -> u64 {
        let target = self.n.load(Ordering::SeqCst) + more;
        self.target.store(target, Ordering::SeqCst);
        target
    }

    fn add(&self, k: u64) {
        let n = self.n.fetch_add(k, Ordering::SeqCst) + k;
        if n >= self.target.load(Ordering::SeqCst) {
            self.notify.notify_waiters();
        }
    }

    /// Waits until `target` messages were consumed (set it first with
    /// [`expect`](Self::expect)).
    async fn wait_for(&self, target: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.n.load(Ordering::SeqCst) >= target {
                return;
            }
            notified.await;
        }
    }
}

fn unique(name: &str) -> String {
    format!("o11y-bench-{name}-{}", std::process::id())
}

/// Publishes one round of `N` messages.
type Publish = Box<dyn Fn() -> BoxFuture<'static, ()>>;

/// One variant: a consumer running in the background, a publish function.
struct Variant {
    name: &'static str,
    /// The queue or stream it uses, deleted at the end.
    queue: String,
    counter: Arc<Counter>,
    publish: Publish,
}

impl Variant {
    fn new(name: &'static str, queue: &str, counter: Arc<Counter>, publish: Publish) -> Self {
        Self {
            name,
            queue: queue.to_owned(),
            counter,
            publish,
        }
    }

    /// Publishes `N` messages and waits until the consumer handled them.
    async fn round(&self) -> Duration {
        let start = Instant::now();
        let target = self.counter.expect(N);
        (self.publish)().await;
        self.counter.wait_for(target).await;
        start.elapsed()
    }
}

/// Criterion figures for each variant of `broker`, then the paired rounds.
fn measure(c: &mut Criterion, rt: &Runtime, broker: &str, variants: &[Variant]) {
    let mut group = c.benchmark_group("publish_consume");
    group
        .throughput(Throughput::Elements(N))
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for v in variants {
        group.bench_function(format!("{broker}/{}", v.name), |b| {
            b.to_async(rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += v.round().await;
                }
                total
            });
        });
    }
    group.finish();
    paired(rt, broker, variants);
}

/// Every variant once per round, in a rotating order; medians of the
/// per-round times and of the per-round ratios to the first variant (raw).
fn paired(rt: &Runtime, broker: &str, variants: &[Variant]) {
    let rounds: usize = std::env::var("O11Y_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    // O11Y_BENCH_ONLY=raw,instrumented runs those variants only; without
    // `raw` nothing is printed (a variant alone, for a profiler).
    let only = std::env::var("O11Y_BENCH_ONLY").ok();
    let runs = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == name))
    };
    // Unmeasured rounds first: consumer groups, channels, connections and
    // caches are set up by then, on every side alike.
    for _ in 0..WARM_UP {
        for v in variants {
            if runs(v.name) {
                rt.block_on(v.round());
            }
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            if !runs(variants[i].name) {
                continue;
            }
            let took = rt.block_on(variants[i].round());
            times[i].push(took.as_secs_f64());
        }
    }
    if times[0].is_empty() {
        return;
    }
    println!("\n{broker}, paired: median of {rounds} rounds of {N} messages");
    println!("| variant | ms / {N} msgs | msgs/s | throughput vs raw |");
    println!("|---|---|---|---|");
    for (v, t) in variants.iter().zip(&times).filter(|(_, t)| !t.is_empty()) {
        let ratios: Vec<f64> = t.iter().zip(&times[0]).map(|(x, raw)| raw / x).collect();
        let secs = median(t.clone());
        println!(
            "| {} | {:.2} | {:.0} | {:.3} |",
            v.name,
            secs * 1e3,
            N as f64 / secs,
            median(ratios)
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The SDK's provider, batch processor, an exporter that drops; `sampler`
/// instead of the default (parent-based, always on) if given.
fn sdk_provider(sampler: Option<Sampler>) -> SdkTracerProvider {
    let builder = SdkTracerProvider::builder().with_batch_exporter(DropExporter);
    match sampler {
        Some(sampler) => builder.with_sampler(sampler),
        None => builder,
    }
    .build()
}

/// Our transport without spans: receive, handle, ack, like a raw client.
async fn plain_consumer<T: Transport>(t: T, queue: String, counter: Arc<Counter>) {
    loop {
        let Ok(batch) = t.receive(&queue, 16).await else {
            continue;
        };
        // One ack call per read, as the raw clients do.
        let all: Vec<_> = batch.iter().collect();
        let _ = t.ack_batch(&queue, &all).await;
        counter.add(batch.len() as u64);
    }
}

/// `Consumer` with spans from `provider`: one message per handler call, 16
/// at once, or (`batched`) batches of up to 16 per call (one span and one ack
/// per batch).
fn spawn_consumer<T, P>(
    rt: &Runtime,
    t: T,
    queue: &str,
    provider: &P,
    batched: bool,
) -> Arc<Counter>
where
    T: Transport + Clone,
    P: TracerProvider + ObjectSafeTracerProvider,
{
    let counter = Arc::new(Counter::default());
    let consumer = Consumer::new(t).with_tracer_provider(provider);
    let (seen, queue) = (counter.clone(), queue.to_owned());
    rt.spawn(async move {
        if batched {
            let handler = move |batch: Vec<Incoming>| {
                let seen = seen.clone();
                async move {
                    seen.add(batch.len() as u64);
                    Ok::<_, std::io::Error>(())
                }
            };
            consumer
                .with_batch_size(16)
                .run_batches(&queue, handler)
                .await;
        } else {
            let handler = move |_m: Incoming| {
                let seen = seen.clone();
                async move {
                    seen.add(1);
                    Ok::<_, std::io::Error>(())
                }
            };
            consumer.with_concurrency(16).run(&queue, handler).await;
        }
    });
    counter
}

/// This crate's transport called by hand: publish, receive 16, ack each.
fn plain_variant<T: Transport + Clone>(rt: &Runtime, t: &T, queue: &str) -> Variant {
    let counter = Arc::new(Counter::default());
    rt.spawn(plain_consumer(t.clone(), queue.to_owned(), counter.clone()));
    let (t, name) = (t.clone(), queue.to_owned());
    let publish: Publish = Box::new(move || {
        let (t, name) = (t.clone(), name.clone());
        Box::pin(async move { publish_plain(&t, &name).await })
    });
    Variant::new("transport", queue, counter, publish)
}

/// `Producer` / `Consumer` with spans from `provider`; `batched` consumes
/// with `run_batches`.
fn traced_variant<T, P>(
    rt: &Runtime,
    t: &T,
    name: &'static str,
    provider: &P,
    batched: bool,
) -> Variant
where
    T: Transport + Clone,
    P: TracerProvider + ObjectSafeTracerProvider,
{
    let queue = unique(name);
    let counter = spawn_consumer(rt, t.clone(), &queue, provider, batched);
    let producer = Producer::new(t.clone()).with_tracer_provider(provider);
    let kept = queue.clone();
    let publish: Publish = Box::new(move || {
        let (producer, queue) = (producer.clone(), queue.clone());
        Box::pin(async move { publish_traced(&producer, &queue).await })
    });
    Variant::new(name, &kept, counter, publish)
}

/// The variants every broker runs after its raw client.
fn crate_variants<T: Transport + Clone>(rt: &Runtime, t: &T, broker: &str) -> Vec<Variant> {
    let provider = sdk_provider(None);
    let unsampled = sdk_provider(Some(Sampler::AlwaysOff));
    let noop = NoopTracerProvider::new();
    vec![
        plain_variant(rt, t, &unique(&format!("{broker}-transport"))),
        // Tracing off (no-op provider): the API's own cost.
        traced_variant(rt, t, "untraced", &noop, false),
        traced_variant(rt, t, "instrumented", &provider, false),
        traced_variant(rt, t, "instrumented_batch", &provider, true),
        // The SDK's provider sampling nothing: the context still travels.
        traced_variant(rt, t, "unsampled", &unsampled, false),
        // Where the cost sits: one side through the crate, the other by
        // hand; untraced, then the producer with the SDK's spans.
        producer_only(rt, t, "producer_only", &noop),
        consumer_only(rt, t, &noop),
        producer_only(rt, t, "producer_traced", &provider),
    ]
}

/// `Producer` (spans from `provider`) publishing, this crate's transport
/// consumed by hand.
fn producer_only<T, P>(rt: &Runtime, t: &T, name: &'static str, provider: &P) -> Variant
where
    T: Transport + Clone,
    P: TracerProvider + ObjectSafeTracerProvider,
{
    let queue = unique(name);
    let counter = Arc::new(Counter::default());
    rt.spawn(plain_consumer(t.clone(), queue.clone(), counter.clone()));
    let producer = Producer::new(t.clone()).with_tracer_provider(provider);
    let kept = queue.clone();
    let publish: Publish = Box::new(move || {
        let (producer, queue) = (producer.clone(), queue.clone());
        Box::pin(async move { publish_traced(&producer, &queue).await })
    });
    Variant::new(name, &kept, counter, publish)
}

/// The transport publishing by hand, `Consumer` (no-op tracer) consuming.
fn consumer_only<T: Transport + Clone>(rt: &Runtime, t: &T, noop: &NoopTracerProvider) -> Variant {
    let queue = unique("consumer-only");
    let counter = spawn_consumer(rt, t.clone(), &queue, noop, false);
    let t = t.clone();
    let kept = queue.clone();
    let publish: Publish = Box::new(move || {
        let (t, queue) = (t.clone(), queue.clone());
        Box::pin(async move { publish_plain(&t, &queue).await })
    });
    Variant::new("consumer_only", &kept, counter, publish)
}

fn redis_benches(c: &mut Criterion, rt: &Runtime) {
    let options = RedisOptions::default().with_block(Duration::from_millis(200));
    let Ok(t) = rt.block_on(RedisTransport::connect(REDIS, options)) else {
        eprintln!("SKIPPED: redis benchmarks: redis server not reachable");
        return;
    };
    let client = redis::Client::open(REDIS).unwrap();

    let mut variants = vec![
        redis_raw(rt, &client, "raw", &[]),
        redis_raw(
            rt,
            &client,
            "raw_traceparent",
            &[("traceparent", TRACEPARENT)],
        ),
    ];
    variants.extend(crate_variants(rt, &t, "redis"));
    measure(c, rt, "redis", &variants);
}

/// Raw redis-rs: `XADD` (with `fields` after the payload) / `XREADGROUP
/// COUNT 16` / `XACK` + `XDEL`.
fn redis_raw(
    rt: &Runtime,
    client: &redis::Client,
    name: &'static str,
    fields: &'static [(&str, &str)],
) -> Variant {
    let queue = unique(&format!("redis-{name}"));
    let counter = Arc::new(Counter::default());
    let conn = rt.block_on(client.get_connection_manager()).unwrap();
    // One connection for publishes and acks, one for blocking reads: the
    // transport's layout.
    rt.spawn(redis_raw_consumer(
        client.clone(),
        conn.clone(),
        queue.clone(),
        counter.clone(),
    ));
    let kept = queue.clone();
    let publish: Publish = Box::new(move || {
        let (mut conn, queue) = (conn.clone(), queue.clone());
        Box::pin(async move {
            for _ in 0..N {
                // Bounded as the transport's default is (MAXLEN ~).
                let mut xadd = redis::cmd("XADD");
                xadd.arg(&queue).arg("MAXLEN").arg("~").arg(1_000_000);
                xadd.arg("*").arg("payload").arg(PAYLOAD);
                for (k, v) in fields {
                    xadd.arg(k).arg(v);
                }
                let _: String = xadd.query_async(&mut conn).await.unwrap();
            }
        })
    });
    Variant::new(name, &kept, counter, publish)
}

/// Deletes this run's streams: Redis keeps them in memory, and a server
/// bloated by earlier runs is a slower one.
async fn delete_streams() {
    let Ok(client) = redis::Client::open(REDIS) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let pattern = format!("o11y-bench-*-{}*", std::process::id());
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

async fn redis_raw_consumer(
    client: redis::Client,
    mut ack: redis::aio::ConnectionManager,
    stream: String,
    counter: Arc<Counter>,
) {
    let mut read = client.get_connection_manager().await.unwrap();
    let _: Result<(), _> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg("raw")
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut read)
        .await;
    loop {
        type Reply = Option<Vec<(String, Vec<(String, Vec<Vec<u8>>)>)>>;
        let reply: Result<Reply, _> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("raw")
            .arg("c1")
            .arg("COUNT")
            .arg(16)
            .arg("BLOCK")
            .arg(200)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(&mut read)
            .await;
        let ids: Vec<String> = reply
            .ok()
            .flatten()
            .into_iter()
            .flatten()
            .flat_map(|(_, e)| e)
            .map(|(id, _)| id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        // The read's entries acked and deleted in one round trip, as the
        // transport's default does.
        let mut pipe = redis::pipe();
        pipe.cmd("XACK").arg(&stream).arg("raw").arg(&ids);
        pipe.cmd("XDEL").arg(&stream).arg(&ids);
        let _: Result<(), _> = pipe.query_async(&mut ack).await;
        counter.add(ids.len() as u64);
    }
}

/// Runs the RabbitMQ variants; returns their queues.
fn amqp_benches(c: &mut Criterion, rt: &Runtime) -> Vec<String> {
    let Ok(t) = rt.block_on(AmqpTransport::connect(AMQP, AmqpOptions::default())) else {
        eprintln!("SKIPPED: amqp benchmarks: rabbitmq server not reachable");
        return Vec::new();
    };

    let mut variants = vec![
        amqp_raw(rt, "raw", false),
        amqp_raw(rt, "raw_traceparent", true),
    ];
    variants.extend(crate_variants(rt, &t, "amqp"));
    measure(c, rt, "amqp", &variants);
    variants.into_iter().map(|v| v.queue).collect()
}

/// Deletes this run's queues: RabbitMQ keeps quorum queues until told, and a
/// broker with thousands of them left behind slows down.
async fn delete_queues(queues: &[String]) {
    if queues.is_empty() {
        return;
    }
    use lapin::{Connection, ConnectionProperties, options::QueueDeleteOptions};
    let Ok(conn) = Connection::connect(AMQP, ConnectionProperties::default()).await else {
        return;
    };
    let Ok(channel) = conn.create_channel().await else {
        return;
    };
    for queue in queues {
        let deleted = channel
            .queue_delete(queue, QueueDeleteOptions::default())
            .await;
        if let Err(e) = deleted {
            eprintln!("could not delete {queue}: {e}");
        }
    }
}

/// Raw lapin: publish with confirm (a `traceparent` header if asked) /
/// `basic_consume`, prefetch 64 / ack.
fn amqp_raw(rt: &Runtime, name: &'static str, traceparent: bool) -> Variant {
    let queue = unique(&format!("amqp-{name}"));
    let counter = Arc::new(Counter::default());
    let channel = rt.block_on(amqp_raw_setup(&queue, counter.clone(), rt));
    let kept = queue.clone();
    let publish: Publish = Box::new(move || {
        let (channel, queue) = (channel.clone(), queue.clone());
        Box::pin(async move {
            use lapin::{
                BasicProperties,
                options::BasicPublishOptions,
                types::{AMQPValue, FieldTable},
            };
            for _ in 0..N {
                let mut props = BasicProperties::default().with_delivery_mode(2);
                if traceparent {
                    let mut headers = FieldTable::default();
                    let value = AMQPValue::LongString(TRACEPARENT.into());
                    headers.insert("traceparent".into(), value);
                    props = props.with_headers(headers);
                }
                // Mandatory, as the transport publishes: an unroutable
                // message comes back instead of being confirmed and lost.
                let options = BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                };
                channel
                    .basic_publish("", &queue, options, PAYLOAD, props)
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        })
    });
    Variant::new(name, &kept, counter, publish)
}

async fn amqp_raw_setup(queue: &str, counter: Arc<Counter>, rt: &Runtime) -> lapin::Channel {
    use lapin::{
        Connection, ConnectionProperties,
        options::{
            BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
            QueueDeclareOptions,
        },
        types::FieldTable,
    };
    let conn = Connection::connect(AMQP, ConnectionProperties::default())
        .await
        .unwrap();
    let publish = conn.create_channel().await.unwrap();
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    // A quorum queue, as the transport declares by default.
    let mut quorum = FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    publish.queue_declare(queue, durable, quorum).await.unwrap();
    let consume = conn.create_channel().await.unwrap();
    consume
        .basic_qos(64, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = consume
        .basic_consume(
            queue,
            "raw",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    rt.spawn(async move {
        let _keep = conn;
        while let Some(Ok(d)) = consumer.next().await {
            let _ = d.ack(BasicAckOptions::default()).await;
            counter.add(1);
        }
    });
    publish
}

async fn publish_plain<T: Transport>(t: &T, queue: &str) {
    for _ in 0..N {
        t.publish(queue, Message::new(PAYLOAD)).await.unwrap();
    }
}

async fn publish_traced<T: Transport>(producer: &Producer<T>, queue: &str) {
    for _ in 0..N {
        producer.publish(queue, PAYLOAD).await.unwrap();
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // O11Y_BENCH_BROKERS=redis (or amqp) runs one broker only.
    let brokers = std::env::var("O11Y_BENCH_BROKERS").unwrap_or_else(|_| "redis,amqp".into());
    let redis = brokers.contains("redis");
    if redis {
        redis_benches(c, &rt);
    }
    let queues = if brokers.contains("amqp") {
        amqp_benches(c, &rt)
    } else {
        Vec::new()
    };
    // The consumers stop first: a running one would create its stream or
    // queue again.
    rt.shutdown_timeout(Duration::from_secs(1));
    let cleanup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    cleanup.block_on(async {
        if redis {
            delete_streams().await;
        }
        delete_queues(&queues).await;
    });
}

criterion_group!(group, benches);
criterion_main!(group);
