//! [`Server`]: starts the request's span and counts it in.

use std::{
    borrow::Cow,
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use http::{Request, Response};
use o11y_core::{
    CorrelationContextExt, CorrelationId,
    propagation::{DuplicateTraceparent, mark_random_trace_id},
};
use opentelemetry::{
    Context, KeyValue, StringValue, Value,
    trace::{Link, SpanBuilder, SpanKind, TraceContextExt},
};
use tower_service::Service;

use super::{ResponseFuture, body::Traced, config::Config, trust};
use crate::{redact, semconv as sc};
use opentelemetry::baggage::BaggageExt;

/// The service made by [`ServerLayer`](super::ServerLayer).
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
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }
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
{
    type Response = Response<super::ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let config = &self.config;
        if config.skips(req.uri().path()) {
            return ResponseFuture::untraced(self.inner.call(req));
        }
        let mut route = None;
        let req = if config.filter.is_some() || config.route.is_some() {
            let (parts, body) = req.into_parts();
            if config.filter.as_ref().is_some_and(|keep| !keep(&parts)) {
                let req = Request::from_parts(parts, body);
                return ResponseFuture::untraced(self.inner.call(req));
            }
            route = config.route.as_ref().and_then(|f| f(&parts));
            Request::from_parts(parts, body)
        } else {
            req
        };
        let traced = start(config, &req, route);
        let future = {
            let _attached = traced.cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::traced(future, traced)
    }
}

/// Starts the request's span (a child of the caller's, or a new trace) and
/// counts the request in.
fn start<B: http_body::Body>(
    config: &Arc<Config>,
    req: &Request<B>,
    custom_route: Option<String>,
) -> Traced {
    let start = Instant::now();
    let telemetry = &config.telemetry;
    let mut extracted = telemetry.propagator().extract_headers(req.headers());
    let trusted = config.trust.trusts(req);
    if !trusted && !extracted.baggage().is_empty() {
        extracted = extracted.with_cleared_baggage();
    }
    let method = sc::method(req.method());
    // Shared by the span and the metrics (cloning it copies no text).
    let route = custom_route
        .map(|r| StringValue::from(Arc::<str>::from(r)))
        .or_else(|| matched_path(req));
    let remote = extracted.span().span_context().clone();
    let public = !trusted && remote.is_valid();
    // The correlation id the request brings: a stored one (it differs from
    // the caller's trace id), or, for a public endpoint whose trace
    // restarts, the caller's trace id.
    let carried = if public {
        extracted.correlation_id()
    } else {
        extracted.stored_correlation_id().cloned()
    };
    let name: Cow<'static, str> = match &route {
        Some(route) => [method, " ", route.as_str()].concat().into(),
        None => method.into(),
    };
    let mut attributes = request_attributes(config, req, method, route.as_ref(), trusted);
    if let Some(id) = &carried {
        attributes.push(KeyValue::new(sc::CORRELATION_ID, id));
    }
    let mut builder = SpanBuilder::from_name(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes);
    let root = Context::new();
    let parent = if public {
        builder = builder.with_links(vec![Link::with_context(remote.clone())]);
        &root
    } else {
        &extracted
    };
    let mut cx = telemetry.tracer.get().start(builder, parent);
    if public || !remote.is_valid() {
        // A new trace, whose id the SDK drew at random (W3C Level 2 flag).
        cx = mark_random_trace_id(&cx);
    }
    cx = with_correlation(cx, carried, public);
    if let Some(dup) = DuplicateTraceparent::in_context(&extracted) {
        cx = cleaned(cx, *dup);
    }
    let request_size = config.body_sizes.then(|| body_size(req)).flatten();
    let scheme = sc::scheme(req.uri());
    Traced::new(
        cx,
        start,
        config.clone(),
        [method, scheme],
        route,
        request_size,
    )
}

/// `cx` with the request's correlation id: the one it `carried` (a public
/// endpoint's new trace stores it), else its span's trace id (recorded on
/// the span), else, with no tracer, a new one.
fn with_correlation(mut cx: Context, carried: Option<CorrelationId>, public: bool) -> Context {
    match carried {
        Some(id) if public => cx = cx.with_correlation_id(id),
        // Off a public endpoint the caller's stored id is in `cx` already.
        Some(_) => {}
        None => {
            let span = cx.span();
            let trace = span.span_context();
            if trace.is_valid() {
                if span.is_recording() {
                    let id = CorrelationId::from_trace_id(trace.trace_id());
                    span.set_attribute(KeyValue::new(sc::CORRELATION_ID, id));
                }
            } else {
                // No tracer: a new id stands for the trace id there is not.
                cx = cx.with_correlation_id(CorrelationId::generate());
            }
        }
    }
    cx
}

/// The request body's size: exact, or its `Content-Length`.
fn body_size<B: http_body::Body>(req: &Request<B>) -> Option<u64> {
    let exact = http_body::Body::size_hint(req.body()).exact();
    exact.or_else(|| content_length(req.headers()))
}

/// `cx`, marked with how its `traceparent` was cleaned, and an event on its span.
fn cleaned(cx: Context, dup: DuplicateTraceparent) -> Context {
    let cx = cx.with_value(dup);
    cx.span().add_event(
        "traceparent.cleaned",
        vec![
            KeyValue::new("traceparent.values", dup.values as i64),
            KeyValue::new("traceparent.conflicting", dup.conflicting),
        ],
    );
    cx
}

/// axum's route template of the request.
fn matched_path<B>(req: &Request<B>) -> Option<StringValue> {
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
        return Some(Arc::<str>::from(matched.as_str()).into());
    }
    #[cfg(not(feature = "axum"))]
    let _ = req;
    None
}

fn request_attributes<B>(
    config: &Config,
    req: &Request<B>,
    method: &'static str,
    route: Option<&StringValue>,
    trusted: bool,
) -> Vec<KeyValue> {
    let (uri, headers) = (req.uri(), req.headers());
    let mut attrs = Vec::with_capacity(12);
    attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method));
    attrs.push(KeyValue::new(sc::URL_PATH, redact::path(uri.path())));
    attrs.push(KeyValue::new(sc::URL_SCHEME, sc::scheme(uri)));
    if let Some(route) = route {
        attrs.push(KeyValue::new(sc::HTTP_ROUTE, route.clone()));
    }
    if let Some(query) = uri.query().filter(|_| config.record_query) {
        let query = redact::query(query, &config.redact_query);
        attrs.push(KeyValue::new(sc::URL_QUERY, query));
    }
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    if let Some(authority) = uri.authority().map(|a| a.as_str()).or(host) {
        let (host, port) = sc::host_port(authority);
        attrs.push(KeyValue::new(sc::SERVER_ADDRESS, host.to_owned()));
        if let Some(port) = port {
            attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
        }
    }
    let forwarded = trusted.then(|| sc::forwarded_client(headers)).flatten();
    if let Some(client) = forwarded.or_else(|| trust::peer(req)) {
        attrs.push(KeyValue::new(sc::CLIENT_ADDRESS, sc::ip_text(client)));
    }
    let user_agent = headers.get(http::header::USER_AGENT);
    if let Some(ua) = user_agent.and_then(|h| h.to_str().ok()) {
        attrs.push(KeyValue::new(sc::USER_AGENT_ORIGINAL, ua.to_owned()));
    }
    if let Some(version) = sc::protocol_version(req.version()) {
        attrs.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, version));
    }
    for (name, key) in &config.capture {
        captured_header(config, name, key, headers, &mut attrs);
    }
    attrs
}

/// Header `name` as an `http.request.header.<name>` attribute, redacted
/// where it must be.
fn captured_header(
    config: &Config,
    name: &http::HeaderName,
    key: &opentelemetry::Key,
    headers: &http::HeaderMap,
    attrs: &mut Vec<KeyValue>,
) {
    let redacted = config.redacts(name);
    let values: Vec<StringValue> = headers
        .get_all(name)
        .iter()
        .map(|v| match redacted {
            true => "[REDACTED]".into(),
            false => String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
        })
        .collect();
    if !values.is_empty() {
        attrs.push(KeyValue::new(key.clone(), Value::Array(values.into())));
    }
}

/// The `Content-Length` of a message, when it has a valid one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    let value = headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?;
    value.trim().parse().ok()
}
