//! Run: `cargo run -p quickstart`
//!
//! Starts a `frontend` and a `backend` axum service on loopback ports in this
//! process, sends one request through both, and prints the JSON log lines of
//! both hops and the captured spans as a tree. Exits non-zero unless both hops
//! belong to one trace and every log line carries that trace's id.

use std::{
    io::Write,
    net::SocketAddr,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, routing::get};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use o11y::{
    http::{ClientLayer, ServerLayer},
    opentelemetry::trace::SpanKind,
    testing::Capture,
};
use tower::{ServiceBuilder, ServiceExt, util::BoxCloneSyncService};
use tracing_subscriber::{Layer, filter::Targets, layer::SubscriberExt};

/// Keeps the log lines so they can be checked, then printed.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn http_client(
    capture: Option<&Capture>,
) -> BoxCloneSyncService<http::Request<Full<Bytes>>, http::Response<axum::body::Body>, BoxError> {
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let plain = hyper
        .map_err(BoxError::from)
        .map_response(|r: http::Response<hyper::body::Incoming>| r.map(axum::body::Body::new));
    match capture {
        Some(capture) => BoxCloneSyncService::new(
            ServiceBuilder::new()
                .layer(ClientLayer::new().tracer_provider(&capture.provider("frontend")))
                .service(plain),
        ),
        None => BoxCloneSyncService::new(plain),
    }
}

async fn serve(router: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

async fn get_text(
    client: &BoxCloneSyncService<
        http::Request<Full<Bytes>>,
        http::Response<axum::body::Body>,
        BoxError,
    >,
    url: String,
) -> Result<(http::StatusCode, http::HeaderMap, String), BoxError> {
    let req = http::Request::get(url).body(Full::new(Bytes::new()))?;
    let resp = client.clone().oneshot(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok((
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, BoxError> {
    let capture = Capture::new();
    let lines = Lines::default();
    let writer = lines.clone();
    let logs = o11y::log::JsonLayer::new()
        .with_service("quickstart")
        .with_writer(move || writer.clone())
        .with_filter(Targets::new().with_target("quickstart", tracing::Level::INFO));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(logs))?;

    let backend = Router::new()
        .route(
            "/users/{id}",
            get(
                |axum::extract::Path(id): axum::extract::Path<u32>| async move {
                    tracing::info!(user_id = id, hop = "backend", "user loaded");
                    format!("{{\"id\":{id},\"name\":\"Ada\"}}")
                },
            ),
        )
        .layer(ServerLayer::new().tracer_provider(&capture.provider("backend")));
    let backend_addr = serve(backend).await?;

    let client = http_client(Some(&capture));
    let frontend = Router::new()
        .route(
            "/profile/{id}",
            get(
                |State((client, backend)): State<(_, SocketAddr)>,
                 axum::extract::Path(id): axum::extract::Path<u32>| async move {
                    tracing::info!(
                        user_id = id,
                        hop = "frontend",
                        "fetching the user from the backend"
                    );
                    match get_text(&client, format!("http://{backend}/users/{id}")).await {
                        Ok((_, _, body)) => (http::StatusCode::OK, body),
                        Err(e) => (http::StatusCode::BAD_GATEWAY, e.to_string()),
                    }
                },
            ),
        )
        .with_state((client, backend_addr))
        .layer(ServerLayer::new().tracer_provider(&capture.provider("frontend")));
    let frontend_addr = serve(frontend).await?;

    println!("frontend on http://{frontend_addr}, backend on http://{backend_addr}");
    let (status, headers, body) = get_text(
        &http_client(None),
        format!("http://{frontend_addr}/profile/7"),
    )
    .await?;
    let correlation = headers
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    println!("GET /profile/7 -> {status} {body} (x-trace-id: {correlation})\n");

    let spans = capture.wait_until(Duration::from_secs(5), |s| {
        s.iter().filter(|s| s.kind() == SpanKind::Server).count() == 2
    });
    let logged = String::from_utf8_lossy(&lines.0.lock().map_err(|_| "poisoned")?).into_owned();
    println!("log lines:");
    print!("{logged}");
    println!("\nspans:");
    print!("{}", spans.render_tree());
    let trace_id = spans
        .trace_ids()
        .first()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let carries_ids = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .is_ok_and(|v| v["trace_id"] == trace_id.as_str() && v["correlation_id"] == correlation)
    };
    if logged.lines().count() != 2 || !logged.lines().all(carries_ids) {
        eprintln!(
            "\nFAILED: expected two JSON log lines carrying trace {trace_id} and correlation id {correlation}"
        );
        return Ok(false);
    }
    let one_trace = spans.trace_ids().len() == 1;
    let hops = spans
        .iter()
        .filter(|s| s.kind() == SpanKind::Server)
        .count();
    if one_trace && hops == 2 {
        println!("\nok: {hops} services, one trace");
        Ok(true)
    } else {
        eprintln!(
            "\nFAILED: expected 2 server spans in one trace, found {hops} server spans in {} traces",
            spans.trace_ids().len()
        );
        Ok(false)
    }
}
