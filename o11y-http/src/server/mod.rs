//! The server middleware: a SERVER span per request, current while the inner
//! service runs.

mod future;
mod layer;

use std::{
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use http::{HeaderValue, Request, Response};
use o11y_core::{CorrelationContextExt, CorrelationId, propagation::DuplicateTraceparent};
use opentelemetry::{
    Context, KeyValue, StringValue, Value,
    trace::{Link, SpanKind, TraceContextExt},
};
use tower_service::Service;

pub use future::ResponseFuture;
pub(crate) use layer::Config;
pub use layer::ServerLayer;

use crate::{
    semconv::{self as sc},
    tracer::SpanStart,
};

/// The service made by [`ServerLayer`].
#[derive(Clone)]
pub struct Server<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> std::fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl<S> Server<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Server<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ReqB: http_body::Body,
    ResB: http_body::Body,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let (parts, body) = req.into_parts();
        let config = &self.config;
        if config.filter.as_ref().is_some_and(|keep| !keep(&parts)) {
            return ResponseFuture::untraced(self.inner.call(Request::from_parts(parts, body)));
        }
        let start = Instant::now();
        let extracted = config
            .propagator()
            .extract_headers_with_context(&Context::new(), &parts.headers);
        let correlation = extracted
            .correlation_id()
            .cloned()
            .unwrap_or_else(CorrelationId::generate);
        let method = sc::method(&parts.method);
        let route = route(config, &parts);
        let remote = extracted.span().span_context().clone();
        let (parent, links) = if config.public_endpoint && remote.is_valid() {
            (Context::new(), vec![Link::with_context(remote)])
        } else {
            (extracted.clone(), Vec::new())
        };
        let cx = config.tracer.start(SpanStart {
            kind: SpanKind::Server,
            short_name: method,
            name: || route.as_deref().map(|r| sc::span_name(method, Some(r))),
            attributes: || request_attributes(config, &parts, method, route.as_ref(), &correlation),
            links,
            parent: &parent,
        });
        let mut cx = cx.with_correlation_id(correlation.clone());
        if let Some(dup) = DuplicateTraceparent::in_context(&extracted) {
            cx = cx.with_value(*dup);
            cx.span().add_event(
                "traceparent.cleaned",
                vec![
                    KeyValue::new("traceparent.values", dup.values as i64),
                    KeyValue::new("traceparent.conflicting", dup.conflicting),
                ],
            );
        }
        let scheme = if parts.uri.scheme_str() == Some("https") {
            "https"
        } else {
            "http"
        };
        let active_slot = crate::metrics::Active::slot(method, scheme);
        let request_size = config
            .body_sizes
            .then(|| {
                http_body::Body::size_hint(&body)
                    .exact()
                    .or_else(|| content_length(&parts.headers))
            })
            .flatten();
        let correlation_header = config.propagator().correlation_header().cloned();
        let correlation_value = correlation_header.and_then(|name| {
            HeaderValue::from_str(correlation.as_str())
                .ok()
                .map(|v| (name, v))
        });
        let future = {
            let _attached = cx.clone().attach();
            self.inner.call(Request::from_parts(parts, body))
        };
        // Counted from here on; dropping `Traced` (done or cancelled) uncounts
        // it. After the inner `call`, so that a panic in it leaves no count.
        config.metrics.active.add(active_slot, 1);
        ResponseFuture::traced(
            future,
            future::Traced {
                cx,
                start,
                config: config.clone(),
                metric: future::MetricKey {
                    method,
                    scheme,
                    slot: active_slot,
                    route,
                },
                request_size,
                correlation: correlation_value,
            },
        )
    }
}

/// The route template, copied once: the span name, its `http.route` and the
/// metric attributes share it.
fn route(config: &Config, parts: &http::request::Parts) -> Option<Arc<str>> {
    if let Some(route) = config.route.as_ref().and_then(|f| f(parts)) {
        return Some(route.into());
    }
    #[cfg(feature = "axum")]
    if let Some(matched) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str().into());
    }
    None
}

fn request_attributes(
    config: &Config,
    parts: &http::request::Parts,
    method: &'static str,
    route: Option<&Arc<str>>,
    correlation: &CorrelationId,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(12);
    attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method));
    attrs.push(KeyValue::new(sc::URL_PATH, parts.uri.path().to_owned()));
    let scheme = match parts.uri.scheme_str() {
        None | Some("http") => Value::from("http"),
        Some("https") => Value::from("https"),
        Some(other) => Value::from(other.to_owned()),
    };
    attrs.push(KeyValue::new(sc::URL_SCHEME, scheme));
    if let Some(route) = route {
        attrs.push(KeyValue::new(
            sc::HTTP_ROUTE,
            StringValue::from(route.clone()),
        ));
    }
    if config.record_query {
        if let Some(q) = parts.uri.query() {
            attrs.push(KeyValue::new(sc::URL_QUERY, q.to_owned()));
        }
    }
    let authority = parts.uri.authority().map(|a| a.as_str()).or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    if let Some(authority) = authority {
        let (host, port) = sc::host_port(authority);
        attrs.push(KeyValue::new(sc::SERVER_ADDRESS, host.to_owned()));
        if let Some(port) = port {
            attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
        }
    }
    if let Some(ua) = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|h| h.to_str().ok())
    {
        attrs.push(KeyValue::new(sc::USER_AGENT_ORIGINAL, ua.to_owned()));
    }
    if let Some(v) = sc::protocol_version(parts.version) {
        attrs.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, v));
    }
    attrs.push(KeyValue::new(sc::CORRELATION_ID, correlation));
    for name in &config.capture {
        let values: Vec<opentelemetry::StringValue> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                let redacted =
                    layer::ALWAYS_REDACTED.contains(name) || config.redact.contains(name);
                if redacted {
                    "[REDACTED]".into()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned().into()
                }
            })
            .collect();
        if !values.is_empty() {
            attrs.push(KeyValue::new(
                format!("http.request.header.{name}"),
                opentelemetry::Value::Array(values.into()),
            ));
        }
    }
    attrs
}

/// The `Content-Length` of a message, when it has a valid one.
pub(crate) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
