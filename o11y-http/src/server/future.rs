//! The response future of [`Server`](super::Server): ends the span with the
//! status, records metrics, and adds the correlation id to the response.

use std::{
    any::Any,
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use http::{HeaderName, HeaderValue, Response};
use o11y_core::{CorrelationContextExt, propagation::Traceparent};
use opentelemetry::{
    Context, KeyValue, Value,
    trace::{Status, TraceContextExt},
};
use pin_project_lite::pin_project;

use crate::{
    metrics::{DurationKey, RouteKey},
    semconv as sc,
    tracer::Started,
};

/// What the metric attributes of a request are made of.
pub(crate) struct MetricKey {
    /// The (method, scheme) slot of [`Active`](crate::metrics::Active).
    pub(crate) slot: usize,
    /// The stripe of `Active` the request was counted in on.
    pub(crate) stripe: usize,
    pub(crate) route: Option<super::Route>,
}

impl MetricKey {
    /// Low-cardinality attributes: method, scheme, route, then the status
    /// code (`0`: none) and error type once known.
    fn attributes(&self, status: u16, error: Option<&Value>) -> Vec<KeyValue> {
        let (method, scheme) = crate::metrics::slot_parts(self.slot);
        let mut attrs = Vec::with_capacity(5);
        attrs.push(KeyValue::new(sc::HTTP_REQUEST_METHOD, method));
        attrs.push(KeyValue::new(sc::URL_SCHEME, scheme));
        if let Some(route) = &self.route {
            attrs.push(KeyValue::new(sc::HTTP_ROUTE, route.value()));
        }
        if status != 0 {
            attrs.push(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        if let Some(error) = error {
            attrs.push(KeyValue::new(sc::ERROR_TYPE, error.clone()));
        }
        attrs
    }
}

/// A traced request's state; dropping it (the request finished or was
/// cancelled) takes the request off `http.server.active_requests`.
pub(crate) struct Traced {
    pub(crate) cx: Context,
    pub(crate) start: crate::clock::Instant,
    /// How the span started: whether it records, and on which clock it ends.
    pub(crate) started: Started,
    /// Every setting and instrument: the calling thread's handle on them.
    pub(crate) config: crate::shared::Shared<super::Config>,
    pub(crate) metric: MetricKey,
    /// The request body's size, when body sizes are recorded and it is known.
    pub(crate) request_size: Option<u64>,
}

impl Drop for Traced {
    fn drop(&mut self) {
        let m = &self.metric;
        self.config.metrics.active.add(m.slot, m.stripe, -1);
    }
}

pin_project! {
    /// Response future of [`Server`](super::Server).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        traced: Option<Traced>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn untraced(inner: F) -> Self {
        Self {
            inner,
            traced: None,
        }
    }
    pub(crate) fn traced(inner: F, traced: Traced) -> Self {
        Self {
            inner,
            traced: Some(traced),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(traced) = this.traced.as_ref() else {
            return this.inner.poll(task);
        };
        let inner = this.inner;
        let polled = {
            let _attached = traced.cx.clone().attach();
            catch_unwind(AssertUnwindSafe(|| inner.poll(task)))
        };
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                let Some(traced) = this.traced.take() else {
                    return Poll::Ready(result);
                };
                Poll::Ready(finish(traced, result))
            }
            Err(panic) => {
                if let Some(traced) = this.traced.take() {
                    record_panic(traced, &*panic);
                }
                resume_unwind(panic)
            }
        }
    }
}

fn finish<B: http_body::Body, E>(
    t: Traced,
    result: Result<Response<B>, E>,
) -> Result<Response<B>, E> {
    let span = t.cx.span();
    let config: &super::Config = &t.config;
    match result {
        Ok(mut response) => {
            let code = response.status().as_u16();
            if t.started != Started::NotRecording {
                span.set_attribute(KeyValue::new(
                    sc::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(code),
                ));
            }
            // A 5xx's error type is its status text: the status alone keys it.
            let error = (code >= 500).then(|| sc::status_text(code));
            if let Some(error) = &error {
                server_error(&span, error);
            }
            if config.body_sizes {
                record_sizes(&t, &response, code, error.as_ref());
            }
            if let Some(name) = config.propagator().correlation_header() {
                echo_correlation(&t.cx, name, response.headers_mut());
            }
            if config.traceresponse {
                add_traceresponse(&span, response.headers_mut());
            }
            end(&t, &span, code, error.as_ref(), true);
            Ok(response)
        }
        Err(e) => {
            let kind = std::any::type_name::<E>();
            span.set_attribute(KeyValue::new(sc::ERROR_TYPE, kind));
            span.set_status(Status::error("inner service failed"));
            end(&t, &span, 0, Some(&Value::from(kind)), false);
            Err(e)
        }
    }
}

/// The request's correlation id (stored in `cx`, else its span's trace id)
/// under `name`, replacing any the inner service set.
fn echo_correlation(cx: &Context, name: &HeaderName, headers: &mut http::HeaderMap) {
    let Some(id) = cx.correlation() else { return };
    if let Ok(value) = HeaderValue::from_bytes(id.as_bytes()) {
        headers.insert(name.clone(), value);
    }
}

// The rarer steps of `finish`, out of line and marked cold so that the
// usual response's code stays together.

#[cold]
#[inline(never)]
fn server_error(span: &opentelemetry::trace::SpanRef<'_>, error: &Value) {
    span.set_attribute(KeyValue::new(sc::ERROR_TYPE, error.clone()));
    span.set_status(Status::error(""));
}

#[inline(never)]
fn record_sizes<B: http_body::Body>(
    t: &Traced,
    response: &Response<B>,
    code: u16,
    error: Option<&Value>,
) {
    let attrs = t.metric.attributes(code, error);
    let metrics = &t.config.metrics;
    if let Some(size) = t.request_size {
        metrics.request_size.record(size, &attrs);
    }
    let size = http_body::Body::size_hint(response.body()).exact();
    if let Some(size) = size.or_else(|| super::content_length(response.headers())) {
        metrics.response_size.record(size, &attrs);
    }
}

#[inline(never)]
fn add_traceresponse(span: &opentelemetry::trace::SpanRef<'_>, headers: &mut http::HeaderMap) {
    let sc = span.span_context();
    let value = Traceparent::new(sc.trace_id(), sc.span_id(), sc.trace_flags()).encode();
    if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
        headers.insert(HeaderName::from_static("traceresponse"), v);
    }
}

#[cold]
fn record_panic(t: Traced, panic: &(dyn Any + Send)) {
    let span = t.cx.span();
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "panic"),
            KeyValue::new("exception.message", message),
        ],
    );
    span.set_attribute(KeyValue::new(sc::ERROR_TYPE, "panic"));
    span.set_status(Status::error("handler panicked"));
    end(&t, &span, 0, Some(&Value::from("panic")), false);
}

/// Records the duration and ends the span. `bindable`: the attribute set
/// follows from the status alone (no inner error, no panic).
fn end(
    t: &Traced,
    span: &opentelemetry::trace::SpanRef<'_>,
    status: u16,
    error: Option<&Value>,
    bindable: bool,
) {
    let elapsed = t.start.elapsed();
    let durations = &t.config.metrics.duration;
    let attributes = || t.metric.attributes(status, error);
    if bindable {
        let key = DurationKey {
            slot: t.metric.slot,
            route: match &t.metric.route {
                None => RouteKey::None,
                Some(super::Route::Interned(r)) => RouteKey::Interned(r.template),
                Some(super::Route::Owned(r)) => RouteKey::Other(r),
            },
            status,
        };
        let secs = elapsed.as_secs_f64();
        durations.record(secs, &key, attributes);
    } else {
        durations.record_unbound(elapsed.as_secs_f64(), &attributes());
    }
    match t.started {
        Started::At(start_time) => span.end_with_timestamp(start_time + elapsed),
        Started::SdkClock => span.end(),
        // `end` would read the clock first, though nothing is recorded.
        Started::NotRecording => {}
    }
}
