//! Log records travel through OTLP/gRPC to an in-process receiver with the
//! ids of the span that was current, and the exporter's own crates never log
//! into the pipeline. Uses `o11y_log::install` and the global subscriber, so
//! this binary holds one test.

mod support;

use std::sync::{Arc, Mutex};

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use opentelemetry_proto::tonic::{
    collector::logs::v1::{
        ExportLogsServiceRequest, ExportLogsServiceResponse,
        logs_service_server::{LogsService, LogsServiceServer},
    },
    common::v1::any_value::Value,
    logs::v1::LogRecord,
};
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportLogsServiceRequest>>>);

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

impl Receiver {
    fn records(&self) -> Vec<(String, LogRecord)> {
        let requests = self.0.lock().unwrap();
        let mut out = Vec::new();
        for resource_logs in requests.iter().flat_map(|r| &r.resource_logs) {
            let service = resource_logs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone());
            let Some(Value::StringValue(service)) = service else {
                panic!("no service.name in {resource_logs:?}");
            };
            for scope in &resource_logs.scope_logs {
                out.extend(
                    scope
                        .log_records
                        .iter()
                        .map(|r| (service.clone(), r.clone())),
                );
            }
        }
        out
    }
}

/// A bare OTLP/gRPC server: HTTP/2 connections served by the generated service.
async fn serve(listener: tokio::net::TcpListener, receiver: Receiver) {
    let service = TowerToHyperService::new(LogsServiceServer::new(receiver));
    while let Ok((stream, _)) = listener.accept().await {
        let service = service.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn body(record: &LogRecord) -> Option<&str> {
    match record.body.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[test]
fn records_reach_the_receiver_with_the_ids_of_their_span() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let receiver = Receiver::default();
    rt.spawn(serve(listener, receiver.clone()));

    let builder = o11y_core::builder("otlp-test").env_lookup(move |name| match name {
        "OTEL_LOGS_EXPORTER" => Some("otlp".into()),
        "OTEL_TRACES_EXPORTER" | "OTEL_METRICS_EXPORTER" => Some("none".into()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(endpoint.clone()),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".into()),
        _ => None,
    });
    let json = support::Output::default();
    let guard = o11y_log::install_with_writer(builder, json.clone())
        .init()
        .unwrap();

    let (trace_id, span_id) = {
        let _span = tracing::info_span!("checkout").entered();
        tracing::info!(order_id = 7, "inside");
        (
            o11y_core::current_trace_id().expect("a trace id inside the span"),
            o11y_core::current_span_id().expect("a span id inside the span"),
        )
    };
    tracing::info!("outside");
    tracing::debug!("below the default level");
    tracing::info!(target: "tonic::transport", "exporter noise");
    tracing::warn!(target: "opentelemetry_sdk::logs", "sdk noise");
    guard.shutdown().unwrap();

    let records = receiver.records();
    let bodies: Vec<_> = records.iter().filter_map(|(_, r)| body(r)).collect();
    assert_eq!(bodies, ["inside", "outside"], "{records:#?}");
    let (service, inside) = &records[0];
    assert_eq!(service, "otlp-test");
    assert_eq!(inside.trace_id, trace_id.to_bytes());
    assert_eq!(inside.span_id, span_id.to_bytes());
    assert_eq!(inside.severity_text, "INFO");
    let outside = &records[1].1;
    assert!(outside.trace_id.is_empty() || outside.trace_id == [0; 16]);

    // The JSON line of the same event names the same span. The SDK's own
    // events (`opentelemetry*`) are not JSON lines: export problems are
    // reported, rate-limited, on standard error instead.
    let lines = json.lines();
    let messages: Vec<_> = lines
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["inside", "outside", "exporter noise"]);
    assert_eq!(lines[0]["service"], "otlp-test");
    assert_eq!(lines[0]["trace_id"], trace_id.to_string());
    assert_eq!(lines[0]["span_id"], span_id.to_string());
    assert_eq!(lines[1].get("trace_id"), None);
    rt.shutdown_background();
}
