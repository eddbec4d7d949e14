//! The W3C trace-context test-suite protocol: `POST /test` with a JSON array
//! of `{"url": ..., "arguments": [...]}`; for each element the service POSTs
//! `arguments` (as JSON) to `url` with a CLIENT span and the context injected
//! by o11y-http, then answers 200.

use std::net::SocketAddr;

use axum::{Json, Router, extract::State, routing::post};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use o11y::http::{ClientLayer, ServerLayer};
use tower::{ServiceBuilder, ServiceExt, util::BoxCloneSyncService};

/// One instruction of the test harness.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct Call {
    /// Where to POST.
    pub url: String,
    /// The body to POST there.
    #[serde(default)]
    pub arguments: Vec<Call>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type HttpClient = BoxCloneSyncService<
    http::Request<Full<Bytes>>,
    http::Response<hyper::body::Incoming>,
    BoxError,
>;

/// The service's router, with the server layer and an instrumented client.
pub fn router(server: ServerLayer, client: ClientLayer) -> Router {
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let http: HttpClient = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(client)
            .service(hyper.map_err(BoxError::from)),
    );
    Router::new()
        .route("/test", post(test))
        .with_state(http)
        .layer(server)
}

async fn test(State(http): State<HttpClient>, Json(calls): Json<Vec<Call>>) -> http::StatusCode {
    for call in calls {
        let Ok(body) = serde_json::to_vec(&call.arguments) else {
            continue;
        };
        let Ok(req) = http::Request::post(&call.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
        else {
            continue;
        };
        // A harness endpoint that fails is the harness's business: keep going.
        let _ = http.clone().oneshot(req).await;
    }
    http::StatusCode::OK
}

/// Serves [`router`] on `addr` until the process ends.
pub async fn serve(
    addr: SocketAddr,
    server: ServerLayer,
    client: ClientLayer,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, router(server, client)).await
}
