//! Run: `cargo run --release -p outage -- healthy 127.0.0.1:4317`
//!
//! A stand-in OpenTelemetry collector for the outage benchmark
//! (`examples/outage/run.sh`, docs/benchmarks.md "Collector outage"). It
//! listens on `ADDR` and behaves as `MODE` says:
//!
//! - `healthy`: answers every OTLP export at once, over gRPC (traces,
//!   metrics, logs) and over HTTP/protobuf (`POST /v1/{traces,metrics,logs}`)
//!   on the same port, and counts what arrived.
//! - `slow`: the same, but each answer waits `DELAY_MS` (default 2000).
//! - `black-hole`: accepts every TCP connection and never reads or answers.
//!
//! A refused collector needs no program: point the service at a port where
//! nothing listens. On SIGTERM or Ctrl-C the receiver prints what it counted
//! as one JSON line and exits. Nothing received is kept, so the receiver's
//! own memory stays flat whatever the load.
//!
//! Usage: `outage-receiver MODE [ADDR] [DELAY_MS]`

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use opentelemetry_proto::tonic::collector::{
    logs::v1::{
        ExportLogsServiceRequest, ExportLogsServiceResponse,
        logs_service_server::{LogsService, LogsServiceServer},
    },
    metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
        metrics_service_server::{MetricsService, MetricsServiceServer},
    },
    trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, body::Body, codegen::Service as _};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What arrived, by kind.
#[derive(Default)]
struct Counts {
    exports: AtomicU64,
    spans: AtomicU64,
    metrics: AtomicU64,
    log_records: AtomicU64,
}

/// The answering collector: counts each export, then answers after `delay`.
#[derive(Clone)]
struct Collector {
    counts: Arc<Counts>,
    delay: Duration,
}

impl Collector {
    fn traces(&self, r: &ExportTraceServiceRequest) {
        let n = r.resource_spans.iter().flat_map(|r| &r.scope_spans);
        self.count(&self.counts.spans, n.map(|s| s.spans.len()).sum());
    }

    fn metrics(&self, r: &ExportMetricsServiceRequest) {
        let n = r.resource_metrics.iter().flat_map(|r| &r.scope_metrics);
        self.count(&self.counts.metrics, n.map(|s| s.metrics.len()).sum());
    }

    fn logs(&self, r: &ExportLogsServiceRequest) {
        let n = r.resource_logs.iter().flat_map(|r| &r.scope_logs);
        self.count(
            &self.counts.log_records,
            n.map(|s| s.log_records.len()).sum(),
        );
    }

    fn count(&self, counter: &AtomicU64, items: usize) {
        self.counts.exports.fetch_add(1, Relaxed);
        counter.fetch_add(items as u64, Relaxed);
    }

    /// Waits the configured delay (none when healthy).
    async fn answer<T>(&self, response: T) -> T {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        response
    }

    fn report(&self, mode: &str) -> String {
        let c = &self.counts;
        format!(
            r#"{{"mode":"{mode}","exports":{},"spans":{},"metrics":{},"log_records":{}}}"#,
            c.exports.load(Relaxed),
            c.spans.load(Relaxed),
            c.metrics.load(Relaxed),
            c.log_records.load(Relaxed)
        )
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.traces(request.get_ref());
        Ok(self.answer(Response::new(Default::default())).await)
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics(request.get_ref());
        Ok(self.answer(Response::new(Default::default())).await)
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.logs(request.get_ref());
        Ok(self.answer(Response::new(Default::default())).await)
    }
}

/// One request, gRPC or HTTP/protobuf, by its path.
async fn route(
    c: Collector,
    req: http::Request<Incoming>,
) -> Result<http::Response<Body>, BoxError> {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/v1/traces" => http_export(&c, req, Collector::traces).await,
        "/v1/metrics" => http_export(&c, req, Collector::metrics).await,
        "/v1/logs" => http_export(&c, req, Collector::logs).await,
        p if p.contains("TraceService") => Ok(TraceServiceServer::new(c).call(req).await?),
        p if p.contains("MetricsService") => Ok(MetricsServiceServer::new(c).call(req).await?),
        p if p.contains("LogsService") => Ok(LogsServiceServer::new(c).call(req).await?),
        _ => Ok(status(http::StatusCode::NOT_FOUND)),
    }
}

/// An OTLP/HTTP export: the protobuf body counted, an empty (default)
/// protobuf response.
async fn http_export<M: prost::Message + Default>(
    c: &Collector,
    req: http::Request<Incoming>,
    count: fn(&Collector, &M),
) -> Result<http::Response<Body>, BoxError> {
    let body = req.into_body().collect().await?.to_bytes();
    match M::decode(body) {
        Ok(message) => count(c, &message),
        Err(_) => return Ok(status(http::StatusCode::BAD_REQUEST)),
    }
    let mut response = c.answer(status(http::StatusCode::OK)).await;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(response)
}

fn status(code: http::StatusCode) -> http::Response<Body> {
    let mut response = http::Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

/// Serves HTTP/1 and HTTP/2 (gRPC) connections with `c`.
async fn serve(listener: TcpListener, c: Collector) {
    while let Ok((stream, _)) = listener.accept().await {
        let c = c.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| route(c.clone(), req));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Accepts every connection and holds it, never reading.
async fn black_hole(listener: TcpListener) {
    let mut held = Vec::new();
    while let Ok((stream, _)) = listener.accept().await {
        held.push(stream);
    }
}

async fn stopped() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("healthy", String::as_str).to_owned();
    let addr = args.get(1).map_or("127.0.0.1:4317", String::as_str);
    let delay_ms: u64 = match args.get(2) {
        Some(ms) => ms
            .parse()
            .map_err(|_| format!("DELAY_MS {ms:?}: not a number"))?,
        None => 2000,
    };
    let listener = TcpListener::bind(addr).await?;
    let delay = match mode.as_str() {
        "healthy" | "black-hole" => Duration::ZERO,
        "slow" => Duration::from_millis(delay_ms),
        other => {
            return Err(format!("MODE {other:?}: expected healthy, slow or black-hole").into());
        }
    };
    let collector = Collector {
        counts: Arc::default(),
        delay,
    };
    eprintln!("outage-receiver: {mode} on {}", listener.local_addr()?);
    let server = match mode.as_str() {
        "black-hole" => tokio::spawn(black_hole(listener)),
        _ => tokio::spawn(serve(listener, collector.clone())),
    };
    stopped().await;
    server.abort();
    println!("{}", collector.report(&mode));
    Ok(())
}
