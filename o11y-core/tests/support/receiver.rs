//! An in-process OTLP/gRPC trace receiver on 127.0.0.1: the test's collector.
//! Also included by the facade's SIGTERM test (`#[path]`).

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
    trace::v1::Span,
};
use tonic::{Request, Response, Status};

/// Every export request received, in order.
#[derive(Clone, Default)]
pub struct Receiver(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.requests().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[allow(dead_code)] // each test binary uses its part
impl Receiver {
    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<ExportTraceServiceRequest>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts serving on 127.0.0.1 on `rt`; returns the receiver and its `http://` endpoint.
    pub fn start(rt: &tokio::runtime::Runtime) -> (Self, String) {
        Self::start_at(rt, "127.0.0.1:0")
    }

    /// Starts serving at `addr` (a collector coming back on its port).
    pub fn start_at(rt: &tokio::runtime::Runtime, addr: &str) -> (Self, String) {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .expect("a port on 127.0.0.1");
        let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
        let receiver = Self::default();
        rt.spawn(serve(listener, receiver.clone()));
        (receiver, endpoint)
    }

    /// How many export requests arrived.
    pub fn exports(&self) -> usize {
        self.requests().len()
    }

    /// Every span received.
    pub fn spans(&self) -> Vec<Span> {
        self.requests()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| s.spans.clone())
            .collect()
    }

    /// Waits (bounded) until `done` holds for the spans received.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Span]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if done(&self.spans()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done(&self.spans())
    }
}

/// The string value of attribute `key` of `span`.
#[allow(dead_code)]
pub fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            Value::IntValue(i) => Some(i.to_string()),
            _ => None,
        })
}

/// A bare OTLP/gRPC server: HTTP/2 connections served by the generated service.
async fn serve(listener: tokio::net::TcpListener, receiver: Receiver) {
    let service = TowerToHyperService::new(TraceServiceServer::new(receiver));
    while let Ok((stream, _)) = listener.accept().await {
        let service = service.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
