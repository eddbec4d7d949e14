//! The layers hold their providers exactly as long as the application does.
#![allow(missing_docs)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode};
use o11y_http::ServerLayer;
use opentelemetry::Context;
use opentelemetry_sdk::{
    error::OTelSdkResult,
    trace::{SdkTracerProvider, Span, SpanData, SpanProcessor},
};
use tower::ServiceExt;

/// Counts ended spans and tells whether the provider was shut down.
#[derive(Debug, Default, Clone)]
struct Watch {
    ended: Arc<AtomicUsize>,
    shut_down: Arc<AtomicBool>,
}

impl SpanProcessor for Watch {
    fn on_start(&self, _: &mut Span, _: &Context) {}
    fn on_end(&self, _: SpanData) {
        self.ended.fetch_add(1, Ordering::SeqCst);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Requests served on several worker threads hold the layer's settings
/// until they end. Nothing may keep them past the application: once the
/// router is dropped (the runtime and its threads still alive), the
/// provider's last reference goes, and the SDK shuts it down, flushing what
/// it holds.
#[test]
fn dropping_the_app_shuts_its_tracer_provider_down() {
    let watch = Watch::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(watch.clone())
        .build();
    let app = Router::new()
        .route("/users/{id}", get(|| async { "ada" }))
        .layer(ServerLayer::new().tracer_provider(&provider));
    drop(provider);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let requests: Vec<_> = (0..64)
            .map(|i| {
                let app = app.clone();
                tokio::spawn(async move {
                    let req = Request::get(format!("/users/{i}"))
                        .body(Body::empty())
                        .unwrap();
                    app.oneshot(req).await.unwrap().status()
                })
            })
            .collect();
        for request in requests {
            assert_eq!(request.await.unwrap(), StatusCode::OK);
        }
    });
    assert_eq!(watch.ended.load(Ordering::SeqCst), 64);
    assert!(
        !watch.shut_down.load(Ordering::SeqCst),
        "the application still holds its provider"
    );
    drop(app);
    assert!(
        watch.shut_down.load(Ordering::SeqCst),
        "nothing but the application may keep the provider alive"
    );
    drop(rt);
}
