//! `order-validator`: a serverless-style function. [`handler`] is the
//! function: it takes an API Gateway proxy event (the shape AWS Lambda
//! receives, see [`ApiGatewayProxyRequest`]) and checks an order.
//! [`invoke`] is what the function's runtime does around it: it continues
//! the trace whose context the event's headers carry, in a SERVER span with
//! the FaaS conventions (`o11y::faas`). [`router`] runs it locally, standing in
//! for API Gateway: every HTTP request becomes one event and one
//! invocation.
//!
//! `POST /validate` (`{"user_id", "amount", "items"}`): 200 with
//! `{"valid": bool, "problems": [...]}`.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use o11y::{
    Guard,
    faas::{Function, Trigger},
    opentelemetry::{
        Context, KeyValue,
        trace::{Status, TraceContextExt as _},
    },
};
use serde::{Deserialize, Serialize};

use crate::service::with_basics;

/// An API Gateway (REST) proxy event: the fields of
/// `aws_lambda_events::apigw::ApiGatewayProxyRequest` this function uses.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGatewayProxyRequest {
    /// `GET`, `POST`, ...
    pub http_method: String,
    /// The request path.
    pub path: String,
    /// The request's headers (one value each), the trace context among them.
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// The body, as text.
    #[serde(default)]
    pub body: Option<String>,
    /// About the invocation.
    #[serde(default)]
    pub request_context: ProxyRequestContext,
}

/// The invocation's identity.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyRequestContext {
    /// Unique per invocation.
    pub request_id: String,
}

/// What the function returns to API Gateway.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGatewayProxyResponse {
    /// The HTTP status.
    pub status_code: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: HashMap<String, String>,
    /// The body, as text.
    pub body: String,
}

/// The order to check.
#[derive(Clone, Debug, Deserialize)]
struct Draft {
    user_id: u64,
    amount: f64,
    #[serde(default)]
    items: Vec<String>,
}

/// The function: checks the order in the event's body.
pub async fn handler(event: ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
    let reply = |status_code: u16, body: serde_json::Value| ApiGatewayProxyResponse {
        status_code,
        headers: HashMap::from([("content-type".to_owned(), "application/json".to_owned())]),
        body: body.to_string(),
    };
    let body = event.body.unwrap_or_default();
    let draft: Draft = match serde_json::from_str(&body) {
        Ok(draft) => draft,
        Err(e) => {
            tracing::warn!(error = %e, "not an order");
            return reply(400, serde_json::json!({ "error": "not an order" }));
        }
    };
    let mut problems = Vec::new();
    if draft.user_id == 0 {
        problems.push("user_id is missing");
    }
    if !(draft.amount.is_finite() && draft.amount > 0.0) {
        problems.push("amount must be positive");
    }
    if draft.items.is_empty() {
        problems.push("an order needs items");
    }
    let valid = problems.is_empty();
    tracing::info!(user_id = draft.user_id, valid, "order validated");
    reply(
        200,
        serde_json::json!({ "valid": valid, "problems": problems }),
    )
}

/// The runtime around [`handler`], as a serverless platform runs it: one
/// invocation span ([`o11y::faas::Function`]) continuing the trace whose
/// context the event's headers carry, with the outcome recorded on it.
pub async fn invoke(function: &Function, event: ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
    let name = format!("{} {}", event.http_method, event.path);
    let id = event.request_context.request_id.clone();
    let headers = event.headers.clone();
    let run = async move {
        let response = handler(event).await;
        let cx = Context::current();
        let span = cx.span();
        let status = i64::from(response.status_code);
        span.set_attribute(KeyValue::new("http.response.status_code", status));
        if response.status_code >= 500 {
            span.set_status(Status::error(format!("status {status}")));
        }
        response
    };
    function
        .invoke(Trigger::Http, name, &id, &headers, run)
        .await
}

/// The function behind a local stand-in for API Gateway, with `/health`
/// and `/metrics`.
pub fn router(guard: &Guard) -> Router {
    let function = Function::new("order-validator").guard(guard);
    let invocations = Arc::new(AtomicU64::new(0));
    let gateway = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let function = function.clone();
        let n = invocations.fetch_add(1, Ordering::Relaxed) + 1;
        async move {
            let event = ApiGatewayProxyRequest {
                http_method: method.to_string(),
                path: uri.path().to_owned(),
                headers: headers
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect(),
                body: Some(String::from_utf8_lossy(&body).into_owned()),
                request_context: ProxyRequestContext {
                    request_id: format!("local-{}-{n}", std::process::id()),
                },
            };
            respond(invoke(&function, event).await)
        }
    };
    with_basics(Router::new().fallback(gateway), guard)
}

fn respond(response: ApiGatewayProxyResponse) -> Response {
    let status = StatusCode::from_u16(response.status_code).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = (status, response.body).into_response();
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            out.headers_mut().insert(name, value);
        }
    }
    out
}
