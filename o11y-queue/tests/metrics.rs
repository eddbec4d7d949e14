//! Metrics recorded by `Producer` and `Consumer` (memory transport).

use std::time::Duration;

use o11y_queue::{Consumer, Incoming, MemoryTransport, Producer, RetryPolicy, metrics};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
    data::{AggregatedMetrics, MetricData, ResourceMetrics},
};
use tokio::sync::{mpsc, oneshot};

/// (name, total count): counter sums, histogram counts.
fn totals(all: &[ResourceMetrics]) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for rm in all {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                let n = match m.data() {
                    AggregatedMetrics::U64(MetricData::Sum(s)) => {
                        s.data_points().map(|p| p.value()).sum()
                    }
                    AggregatedMetrics::U64(MetricData::Histogram(h)) => {
                        h.data_points().map(|p| p.count()).sum()
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        h.data_points().map(|p| p.count()).sum()
                    }
                    _ => 0,
                };
                out.push((m.name().to_owned(), n));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_process_are_measured() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let queue = MemoryTransport::new();
    let producer = Producer::new(queue.clone()).with_meter_provider(&provider);
    producer.publish("metered", "a").await.unwrap();
    producer.publish("metered", "b").await.unwrap();

    // "a" fails once then succeeds; "b" succeeds: 3 deliveries processed.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = move |m: Incoming| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(());
            if &m.payload[..] == b"a" && m.attempt == 1 {
                Err("first try fails")
            } else {
                Ok(())
            }
        }
    };
    let consumer = Consumer::new(queue)
        .with_meter_provider(&provider)
        .with_retry(
            RetryPolicy::new(3).with_backoff(Duration::from_millis(1), Duration::from_millis(1)),
        );
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        consumer
            .run_until("metered", handler, async {
                let _ = stopped.await;
            })
            .await;
    });
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let _ = stop.send(());
    running.await.unwrap(); // the last handler has settled and been measured

    provider.force_flush().unwrap();
    let totals = totals(&exporter.get_finished_metrics().unwrap());
    let get = |name: &str| totals.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    assert_eq!(get(metrics::SENT_MESSAGES), Some(2), "{totals:?}");
    assert_eq!(get(metrics::OPERATION_DURATION), Some(2));
    assert_eq!(get(metrics::CONSUMED_MESSAGES), Some(3));
    assert_eq!(get(metrics::PROCESS_DURATION), Some(3));
    assert_eq!(get(metrics::QUEUE_TIME), Some(3));
    assert_eq!(get(metrics::DELIVERY_ATTEMPT), Some(3));
}
