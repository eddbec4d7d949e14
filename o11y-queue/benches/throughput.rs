//! Publish + consume throughput against real brokers, in one run: the raw
//! client, this crate's transport without spans, and `Producer`/`Consumer`
//! with a sampled SDK tracer (batch processor, exporter that drops).
//!
//! `CARGO_TARGET_DIR=/work/target-queue cargo bench -p o11y-queue --all-features --bench throughput`
//! (Redis on 127.0.0.1:6379, RabbitMQ on 127.0.0.1:5672; a missing broker is skipped).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{StreamExt, future::join_all};
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
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};
use tokio::{runtime::Runtime, sync::Notify};

/// Messages per iteration.
const N: u64 = 200;
const PAYLOAD: &[u8] = br#"{"order":42,"items":[1,2,3],"note":"benchmark payload"}"#;
const REDIS: &str = "redis://127.0.0.1:6379";
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Debug)]
struct DropExporter;

impl SpanExporter for DropExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// Messages consumed so far, and a way to wait for a count.
#[derive(Default)]
struct Counter {
    n: AtomicU64,
    notify: Notify,
}

impl Counter {
    fn add(&self, k: u64) {
        self.n.fetch_add(k, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

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

/// One variant: a consumer running in the background, a publish function.
fn bench_variant<P, F>(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    counter: Arc<Counter>,
    publish: P,
) where
    P: Fn() -> F,
    F: Future<Output = ()>,
{
    let mut group = c.benchmark_group("publish_consume");
    group
        .throughput(Throughput::Elements(N))
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let (counter, publish) = (counter.clone(), &publish);
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let target = counter.n.load(Ordering::SeqCst) + N;
                    publish().await;
                    counter.wait_for(target).await;
                }
                start.elapsed()
            }
        });
    });
    group.finish();
}

fn instrumented_provider() -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_batch_exporter(DropExporter)
        .build()
}

/// Our transport without spans: receive, handle, ack, like a raw client.
async fn plain_consumer<T: Transport>(t: T, queue: String, counter: Arc<Counter>) {
    loop {
        let Ok(batch) = t.receive(&queue, 16).await else {
            continue;
        };
        let k = batch.len() as u64;
        join_all(batch.iter().map(|d| t.ack(&queue, d))).await;
        counter.add(k);
    }
}

/// Producer/Consumer with spans from `provider`.
fn spawn_instrumented<T, P>(rt: &Runtime, t: T, queue: &str, provider: &P) -> Arc<Counter>
where
    T: Transport + Clone,
    P: TracerProvider + ObjectSafeTracerProvider,
{
    let counter = Arc::new(Counter::default());
    let consumer = Consumer::new(t)
        .with_tracer_provider(provider)
        .with_concurrency(16);
    let (seen, queue) = (counter.clone(), queue.to_owned());
    rt.spawn(async move {
        consumer
            .run(&queue, move |_m: Incoming| {
                let seen = seen.clone();
                async move {
                    seen.add(1);
                    Ok::<_, std::io::Error>(())
                }
            })
            .await;
    });
    counter
}

fn redis_benches(c: &mut Criterion, rt: &Runtime) {
    let options = RedisOptions::default().with_block(Duration::from_millis(200));
    let Ok(t) = rt.block_on(RedisTransport::connect(REDIS, options)) else {
        eprintln!("SKIPPED: redis benchmarks: redis server not reachable");
        return;
    };
    let client = redis::Client::open(REDIS).unwrap();

    // Raw redis-rs: XADD / XREADGROUP COUNT 16 / XACK.
    let queue = unique("redis-raw");
    let counter = Arc::new(Counter::default());
    let conn = rt.block_on(client.get_connection_manager()).unwrap();
    rt.spawn(redis_raw_consumer(
        client.clone(),
        queue.clone(),
        counter.clone(),
    ));
    bench_variant(c, rt, "redis/raw", counter, || {
        let (mut conn, queue) = (conn.clone(), queue.clone());
        async move {
            for _ in 0..N {
                let _: String = redis::cmd("XADD")
                    .arg(&queue)
                    .arg("*")
                    .arg("payload")
                    .arg(PAYLOAD)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
    });

    // o11y-queue transport, no spans.
    let queue = unique("redis-transport");
    let counter = Arc::new(Counter::default());
    rt.spawn(plain_consumer(t.clone(), queue.clone(), counter.clone()));
    bench_variant(c, rt, "redis/transport", counter, || {
        publish_plain(&t, &queue)
    });

    // Producer/Consumer with a sampled SDK tracer.
    // Producer/Consumer with tracing off (no-op provider): the API's own cost.
    let queue = unique("redis-untraced");
    let noop = NoopTracerProvider::new();
    let counter = spawn_instrumented(rt, t.clone(), &queue, &noop);
    let producer = Producer::new(t.clone()).with_tracer_provider(&noop);
    bench_variant(c, rt, "redis/untraced", counter, || {
        publish_traced(&producer, &queue)
    });

    let queue = unique("redis-instrumented");
    let provider = instrumented_provider();
    let counter = spawn_instrumented(rt, t.clone(), &queue, &provider);
    let producer = Producer::new(t.clone()).with_tracer_provider(&provider);
    bench_variant(c, rt, "redis/instrumented", counter, || {
        publish_traced(&producer, &queue)
    });
}

async fn redis_raw_consumer(client: redis::Client, stream: String, counter: Arc<Counter>) {
    let mut read = client.get_connection_manager().await.unwrap();
    let ack = client.get_connection_manager().await.unwrap();
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
        let acks = ids.iter().map(|id| {
            let mut ack = ack.clone();
            let stream = stream.clone();
            async move {
                let _: Result<(), _> = redis::cmd("XACK")
                    .arg(&stream)
                    .arg("raw")
                    .arg(id)
                    .query_async(&mut ack)
                    .await;
            }
        });
        join_all(acks).await;
        counter.add(ids.len() as u64);
    }
}

fn amqp_benches(c: &mut Criterion, rt: &Runtime) {
    let Ok(t) = rt.block_on(AmqpTransport::connect(AMQP, AmqpOptions::default())) else {
        eprintln!("SKIPPED: amqp benchmarks: rabbitmq server not reachable");
        return;
    };

    // Raw lapin: publish with confirm / basic_consume, prefetch 64 / ack.
    let queue = unique("amqp-raw");
    let counter = Arc::new(Counter::default());
    let channel = rt.block_on(amqp_raw_setup(&queue, counter.clone(), rt));
    bench_variant(c, rt, "amqp/raw", counter, || {
        let (channel, queue) = (channel.clone(), queue.clone());
        async move {
            use lapin::{BasicProperties, options::BasicPublishOptions};
            for _ in 0..N {
                let props = BasicProperties::default().with_delivery_mode(2);
                channel
                    .basic_publish("", &queue, BasicPublishOptions::default(), PAYLOAD, props)
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        }
    });

    let queue = unique("amqp-transport");
    let counter = Arc::new(Counter::default());
    rt.spawn(plain_consumer(t.clone(), queue.clone(), counter.clone()));
    bench_variant(c, rt, "amqp/transport", counter, || {
        publish_plain(&t, &queue)
    });

    // Producer/Consumer with tracing off (no-op provider): the API's own cost.
    let queue = unique("amqp-untraced");
    let noop = NoopTracerProvider::new();
    let counter = spawn_instrumented(rt, t.clone(), &queue, &noop);
    let producer = Producer::new(t.clone()).with_tracer_provider(&noop);
    bench_variant(c, rt, "amqp/untraced", counter, || {
        publish_traced(&producer, &queue)
    });

    let queue = unique("amqp-instrumented");
    let provider = instrumented_provider();
    let counter = spawn_instrumented(rt, t.clone(), &queue, &provider);
    let producer = Producer::new(t.clone()).with_tracer_provider(&provider);
    bench_variant(c, rt, "amqp/instrumented", counter, || {
        publish_traced(&producer, &queue)
    });
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
    publish
        .queue_declare(queue, durable, FieldTable::default())
        .await
        .unwrap();
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
    redis_benches(c, &rt);
    amqp_benches(c, &rt);
}

criterion_group!(group, benches);
criterion_main!(group);
