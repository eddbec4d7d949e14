//! What the server tests share: a real axum server on 127.0.0.1, a plain
//! hyper client, and metrics read back from an in-memory exporter.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, PeriodicReader, SdkMeterProvider,
    data::{AggregatedMetrics, MetricData},
};

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Serves `router` on a free port of 127.0.0.1.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A hyper client with no instrumentation.
pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn get(url: String) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::new(Bytes::new())).unwrap()
}

/// A meter provider whose points can be read back from the exporter.
pub fn in_memory_meters() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let exporter = InMemoryMetricExporter::default();
    let meters = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    (meters, exporter)
}

/// The sum over every point of `name` in the exporter's last export.
pub fn last_sum(exporter: &InMemoryMetricExporter, name: &str) -> Option<i64> {
    let metrics = exporter.get_finished_metrics().unwrap();
    let last = metrics.last()?;
    last.scope_metrics()
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == name)
        .and_then(|m| match m.data() {
            AggregatedMetrics::I64(MetricData::Sum(s)) => {
                Some(s.data_points().map(|p| p.value()).sum())
            }
            _ => None,
        })
}

/// (count, sum) over every point of histogram `name` in the last export.
pub fn last_histogram(exporter: &InMemoryMetricExporter, name: &str) -> Option<(u64, f64)> {
    let metrics = exporter.get_finished_metrics().unwrap();
    let last = metrics.last()?;
    last.scope_metrics()
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == name)
        .and_then(|m| match m.data() {
            AggregatedMetrics::F64(MetricData::Histogram(h)) => Some(
                h.data_points()
                    .fold((0, 0.0), |(c, s), p| (c + p.count(), s + p.sum())),
            ),
            _ => None,
        })
}
