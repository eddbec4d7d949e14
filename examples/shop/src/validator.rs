//! `order-validator`: a serverless-style function. [`handler`] is the
//! function: it takes an API Gateway proxy event (the shape AWS Lambda
//! receives, see [`ApiGatewayProxyRequest`]) and checks an order.
//! [`Function::invoke`] is what the function's runtime does around it: it
//! continues the trace whose context the event's headers carry, in a SERVER
//! span with the FaaS conventions. [`router`] runs it locally, standing in
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
    opentelemetry::{
        Context, InstrumentationScope, KeyValue,
        context::FutureExt as _,
        global::{self, BoxedTracer, ObjectSafeTracerProvider as _},
        propagation::TextMapPropagator as _,
        trace::{SpanKind, Status, TraceContextExt as _, Tracer as _},
    },
    propagation::Propagator,
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

/// The runtime around [`handler`]: context from the event's headers, one
/// SERVER span per invocation.
#[derive(Clone)]
pub struct Function {
    name: Arc<str>,
    tracer: Arc<BoxedTracer>,
    propagator: Propagator,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// The function `name`, traced with `guard`'s providers.
    pub fn new(name: &str, guard: &Guard) -> Self {
        let scope = InstrumentationScope::builder("shop").build();
        let tracer = match guard.tracer_provider() {
            Some(provider) => BoxedTracer::new(provider.boxed_tracer(scope)),
            None => global::tracer_with_scope(scope),
        };
        Self {
            name: Arc::from(name),
            tracer: Arc::new(tracer),
            propagator: guard
                .propagator()
                .unwrap_or_else(|| Propagator::global().clone()),
        }
    }

    /// Runs [`handler`] for `event` inside a SERVER span that continues the
    /// trace of the event's `traceparent` (and its correlation id).
    pub async fn invoke(&self, event: ApiGatewayProxyRequest) -> ApiGatewayProxyResponse {
        let headers: HashMap<String, String> = event
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        let parent = self
            .propagator
            .extract_with_context(&Context::new(), &headers);
        let attributes = vec![
            KeyValue::new("faas.trigger", "http"),
            KeyValue::new("faas.name", self.name.to_string()),
            KeyValue::new(
                "faas.invocation_id",
                event.request_context.request_id.clone(),
            ),
            KeyValue::new("http.request.method", event.http_method.clone()),
            KeyValue::new("url.path", event.path.clone()),
        ];
        let span = self
            .tracer
            .span_builder(format!("{} {}", event.http_method, event.path))
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&*self.tracer, &parent);
        let cx = parent.with_span(span);
        let response = handler(event).with_context(cx.clone()).await;
        let span = cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(response.status_code),
        ));
        if response.status_code >= 500 {
            span.set_status(Status::error(format!("status {}", response.status_code)));
        }
        span.end();
        response
    }
}

/// The function behind a local stand-in for API Gateway, with `/health`
/// and `/metrics`.
pub fn router(guard: &Guard) -> Router {
    let function = Function::new("order-validator", guard);
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
            respond(function.invoke(event).await)
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
