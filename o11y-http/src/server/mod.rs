//! The server middleware: a SERVER span per request, current while the inner
//! service runs.

mod future;
mod layer;

use std::{
    borrow::Cow,
    sync::Arc,
    task::{Context as TaskContext, Poll},
};

use http::{Request, Response};
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
    intern,
    semconv::{self as sc},
    shared::Shared,
    tracer::SpanStart,
};

/// The service made by [`ServerLayer`].
#[derive(Clone)]
pub struct Server<S> {
    inner: S,
    /// Cloning the service (axum does for each request) takes the calling
    /// thread's handle on the settings.
    config: Shared<Config>,
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
    S: Service<Request<ReqB>, Response = Response<ResB>> + 'static,
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
        let config: &Config = &self.config;
        if config.filter.is_some() || config.route.is_some() {
            return self.call_hooked(req);
        }
        self.call_traced(req, None)
    }
}

impl<S> Server<S> {
    /// `call` with the user's hooks, which take the request's `Parts`: only
    /// then is the request split (its head moved out and back).
    #[inline(never)]
    fn call_hooked<ReqB, ResB>(&mut self, req: Request<ReqB>) -> ResponseFuture<S::Future>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + 'static,
        ReqB: http_body::Body,
        ResB: http_body::Body,
    {
        let (parts, body) = req.into_parts();
        let config: &Config = &self.config;
        if config.filter.as_ref().is_some_and(|keep| !keep(&parts)) {
            return ResponseFuture::untraced(self.inner.call(Request::from_parts(parts, body)));
        }
        let custom = config.route.as_ref().and_then(|f| f(&parts));
        self.call_traced(Request::from_parts(parts, body), custom)
    }

    /// `call`, traced; `custom_route`: the user's route function's answer.
    #[inline]
    fn call_traced<ReqB, ResB>(
        &mut self,
        req: Request<ReqB>,
        custom_route: Option<String>,
    ) -> ResponseFuture<S::Future>
    where
        S: Service<Request<ReqB>, Response = Response<ResB>> + 'static,
        ReqB: http_body::Body,
        ResB: http_body::Body,
    {
        let config: &Config = &self.config;
        let start = crate::clock::now();
        let head = Head::of(&req);
        let extracted = config
            .propagator()
            .extract_headers_with_context(&Context::new(), head.headers);
        let method = sc::method(head.method);
        let route = route(custom_route, &head);
        let remote = extracted.span().span_context().clone();
        let public = config.public_endpoint && remote.is_valid();
        // The correlation id the request brings: a stored one (it differs
        // from the caller's trace id), or, for a public endpoint whose trace
        // restarts, the caller's trace id.
        let carried = if public {
            extracted.correlation_id()
        } else {
            extracted.stored_correlation_id().cloned()
        };
        let new_root;
        let (parent, links) = if public {
            new_root = Context::new();
            (&new_root, vec![Link::with_context(remote.clone())])
        } else {
            (&extracted, Vec::new())
        };
        // A span following a sampled caller starts at `start` and ends at
        // start + the measured duration; any other has the SDK's clock.
        let (cx, started) = config.tracer.start(SpanStart {
            kind: SpanKind::Server,
            short_name: method,
            name: || route.as_ref().map(|r| r.span_name(method)),
            attributes: |trace_id| {
                let correlation = match &carried {
                    Some(id) => Value::from(id),
                    None => Value::from(CorrelationId::from_trace_id(trace_id)),
                };
                request_attributes(config, &head, method, route.as_ref(), correlation)
            },
            started: Some(start),
            links,
            parent,
        });
        let mut cx = cx;
        // The response echoes the id `cx` holds, read back when it is ready
        // (see `future::echo_correlation`): the request's state carries no
        // copy of it.
        match carried {
            Some(id) if public => cx = cx.with_correlation_id(id),
            // Off a public endpoint the parent's stored id is in `cx` already.
            Some(_) => {}
            None if !cx.span().span_context().is_valid() => generated(&mut cx),
            None => {}
        }
        if let Some(dup) = DuplicateTraceparent::in_context(&extracted) {
            cx = cleaned(cx, *dup);
        }
        drop(extracted);
        let https = head.uri.scheme_str() == Some("https");
        let active_slot = crate::metrics::Active::slot(method, https);
        let request_size = config
            .body_sizes
            .then(|| {
                http_body::Body::size_hint(req.body())
                    .exact()
                    .or_else(|| content_length(head.headers))
            })
            .flatten();
        let future = {
            let _attached = (!calls_when_polled::<S>()).then(|| cx.clone().attach());
            self.inner.call(req)
        };
        // Counted from here on; dropping `Traced` (done or cancelled) uncounts
        // it. After the inner `call`, so that a panic in it leaves no count.
        let stripe = crate::metrics::stripe();
        config.metrics.active.add(active_slot, stripe, 1);
        ResponseFuture::traced(
            future,
            future::Traced {
                cx,
                start,
                started,
                config: self.config.clone(),
                metric: future::MetricKey {
                    slot: active_slot,
                    stripe,
                    route,
                },
                request_size,
            },
        )
    }
}

/// Whether `S`'s `call` only packs the request into a future, running
/// nothing of the inner service until the future is polled (where the
/// span's context is current): then `call` needs no context of its own.
/// axum's `Route` (what `Router::layer` wraps) is such a service: its `call`
/// clones the boxed route and returns a `Oneshot`, which calls the route in
/// its first poll. Any other service runs its `call` in the span's context.
fn calls_when_polled<S: 'static>() -> bool {
    #[cfg(feature = "axum")]
    {
        std::any::TypeId::of::<S>() == std::any::TypeId::of::<axum::routing::Route>()
    }
    #[cfg(not(feature = "axum"))]
    {
        false
    }
}

/// `cx`, marked with how its `traceparent` was cleaned (rare: a cold path,
/// out of the way of the usual request's code).
#[cold]
#[inline(never)]
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

/// A new correlation id stored in `cx`, which has no valid span (a no-op
/// tracer) and so no trace id to stand for one.
#[cold]
#[inline(never)]
fn generated(cx: &mut Context) {
    *cx = cx.with_correlation_id(CorrelationId::generate());
}

/// A request's route template: interned (shared by every request on it), or
/// copied once when the intern table is full.
#[derive(Clone)]
pub(crate) enum Route {
    Interned(&'static intern::Route),
    Owned(Arc<str>),
}

impl Route {
    fn new(template: &str) -> Self {
        match intern::route(template) {
            Some(route) => Self::Interned(route),
            None => Self::Owned(template.into()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Interned(r) => r.template,
            Self::Owned(r) => r,
        }
    }

    /// The route as an attribute value (no copy).
    pub(crate) fn value(&self) -> Value {
        match self {
            Self::Interned(r) => Value::from(r.template),
            Self::Owned(r) => Value::String(StringValue::from(r.clone())),
        }
    }

    fn span_name(&self, method: &'static str) -> Cow<'static, str> {
        match self {
            Self::Interned(r) => match r.span_name(method) {
                Some(name) => Cow::Borrowed(name),
                None => Cow::Owned(sc::span_name(method, Some(r.template))),
            },
            Self::Owned(r) => Cow::Owned(sc::span_name(method, Some(r))),
        }
    }
}

/// What the layer reads of a request, borrowed from it whole (no split).
struct Head<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    version: http::Version,
    headers: &'a http::HeaderMap,
    extensions: &'a http::Extensions,
}

impl<'a> Head<'a> {
    fn of<B>(req: &'a Request<B>) -> Self {
        Self {
            method: req.method(),
            uri: req.uri(),
            version: req.version(),
            headers: req.headers(),
            extensions: req.extensions(),
        }
    }
}

/// The route template (the user's function's, else axum's matched path):
/// the span name, its `http.route` and the metric attributes share it.
fn route(custom: Option<String>, head: &Head<'_>) -> Option<Route> {
    if let Some(route) = custom {
        return Some(Route::new(&route));
    }
    #[cfg(feature = "axum")]
    if let Some(matched) = head.extensions.get::<axum::extract::MatchedPath>() {
        return Some(Route::new(matched.as_str()));
    }
    #[cfg(not(feature = "axum"))]
    let _ = head;
    None
}

/// Host names, user agents and (inside a system) client addresses repeat
/// from request to request.
static HOSTS: intern::Strings = intern::Strings::new(1);
static USER_AGENTS: intern::Strings = intern::Strings::new(2);
static CLIENTS: intern::Strings = intern::Strings::new(3);

fn repeated(table: &intern::Strings, value: &str) -> Value {
    match table.get(value) {
        Some(v) => Value::from(v),
        None => Value::from(value.to_owned()),
    }
}

/// `ip` as an attribute value: the calling thread's last client address
/// first (behind a proxy or inside a system, callers are few), so a repeated
/// caller is neither formatted nor looked up again; else interned.
fn client_text(ip: std::net::IpAddr) -> Value {
    thread_local! {
        static LAST: std::cell::Cell<Option<(std::net::IpAddr, &'static str)>> =
            const { std::cell::Cell::new(None) };
    }
    let last = LAST.try_with(std::cell::Cell::get).ok().flatten();
    if let Some((_, text)) = last.filter(|(last, _)| *last == ip) {
        return Value::from(text);
    }
    let text = sc::IpText::new(ip);
    match CLIENTS.get(text.as_str()) {
        Some(interned) => {
            let _ = LAST.try_with(|l| l.set(Some((ip, interned))));
            Value::from(interned)
        }
        None => Value::from(text.as_str().to_owned()),
    }
}

fn request_attributes(
    config: &Config,
    head: &Head<'_>,
    method: &'static str,
    route: Option<&Route>,
    correlation: Value,
) -> Vec<KeyValue> {
    let mut attrs = Vec::with_capacity(14);
    attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method));
    // A route without parameters is its own path: share its interned text.
    let path = head.uri.path();
    let path = match route {
        Some(route) if route.as_str() == path => route.value(),
        _ => Value::from(path.to_owned()),
    };
    attrs.push(KeyValue::new(sc::URL_PATH, path));
    let scheme = match head.uri.scheme_str() {
        None | Some("http") => Value::from("http"),
        Some("https") => Value::from("https"),
        Some(other) => Value::from(other.to_owned()),
    };
    attrs.push(KeyValue::new(sc::URL_SCHEME, scheme));
    if let Some(route) = route {
        attrs.push(KeyValue::new(sc::HTTP_ROUTE, route.value()));
    }
    if config.record_query {
        if let Some(q) = head.uri.query() {
            attrs.push(KeyValue::new(sc::URL_QUERY, q.to_owned()));
        }
    }
    let headers = sc::RequestHeaders::of(head.headers);
    let authority = head
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| headers.host.and_then(|h| h.to_str().ok()));
    if let Some(authority) = authority {
        let (host, port) = sc::host_port(authority);
        attrs.push(KeyValue::new(sc::SERVER_ADDRESS, repeated(&HOSTS, host)));
        if let Some(port) = port {
            attrs.push(KeyValue::new(sc::SERVER_PORT, i64::from(port)));
        }
    }
    if let Some(client) = sc::client_address(&headers, head.extensions) {
        attrs.push(KeyValue::new(sc::CLIENT_ADDRESS, client_text(client)));
    }
    if let Some(ua) = headers.user_agent.and_then(|h| h.to_str().ok()) {
        attrs.push(KeyValue::new(
            sc::USER_AGENT_ORIGINAL,
            repeated(&USER_AGENTS, ua),
        ));
    }
    if let Some(v) = sc::protocol_version(head.version) {
        attrs.push(KeyValue::new(sc::NETWORK_PROTOCOL_VERSION, v));
    }
    attrs.push(KeyValue::new(sc::CORRELATION_ID, correlation));
    if !config.capture.is_empty() {
        captured_headers(config, head.headers, &mut attrs);
    }
    attrs
}

/// The headers the user asked to record, as `http.request.header.<name>`
/// attributes, redacted where they must be (out of line: most services
/// capture none).
#[inline(never)]
fn captured_headers(config: &Config, headers: &http::HeaderMap, attrs: &mut Vec<KeyValue>) {
    for name in &config.capture {
        let values: Vec<opentelemetry::StringValue> = headers
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_addresses_alternate_and_repeat_correctly() {
        let a: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8::7".parse().unwrap();
        for ip in [a, a, b, a, b, b] {
            assert_eq!(client_text(ip).as_str(), ip.to_string());
        }
        let (Value::String(x), Value::String(y)) = (client_text(a), client_text(a)) else {
            panic!("a string value");
        };
        assert!(std::ptr::eq(x.as_str(), y.as_str()), "interned once");
    }
}
