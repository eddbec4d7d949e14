//! The response future of [`Server`](super::Server): ends the span with the
//! status, records metrics, and adds the correlation id to the response.

use std::{
    any::Any,
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    pin::Pin,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use http::{HeaderName, HeaderValue, Response};
use o11y_core::propagation::Traceparent;
use opentelemetry::{
    Context, KeyValue,
    trace::{Status, TraceContextExt},
};
use pin_project_lite::pin_project;

use crate::{metrics::ServerMetrics, semconv as sc};

pub(crate) struct Traced {
    pub(crate) cx: Context,
    pub(crate) start: Instant,
    pub(crate) metrics: ServerMetrics,
    pub(crate) metric_attrs: Vec<KeyValue>,
    /// Keeps the request in `http.server.active_requests` until dropped,
    /// also when the response future is dropped before completing.
    pub(crate) _in_flight: crate::metrics::InFlight,
    /// `Some(request size)` when body sizes are recorded.
    pub(crate) body_sizes: Option<Option<u64>>,
    pub(crate) correlation: Option<(HeaderName, HeaderValue)>,
    pub(crate) traceresponse: bool,
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
    mut t: Traced,
    result: Result<Response<B>, E>,
) -> Result<Response<B>, E> {
    let span = t.cx.span();
    match result {
        Ok(mut response) => {
            let code = response.status().as_u16();
            span.set_attribute(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
            t.metric_attrs.push(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
            if code >= 500 {
                span.set_attribute(KeyValue::new(sc::ERROR_TYPE, sc::status_text(code)));
                span.set_status(Status::error(""));
                t.metric_attrs
                    .push(KeyValue::new(sc::ERROR_TYPE, sc::status_text(code)));
            }
            if let Some(request) = t.body_sizes {
                if let Some(size) = request {
                    t.metrics.request_size.record(size, &t.metric_attrs);
                }
                let size = http_body::Body::size_hint(response.body()).exact();
                if let Some(size) = size.or_else(|| super::content_length(response.headers())) {
                    t.metrics.response_size.record(size, &t.metric_attrs);
                }
            }
            if let Some((name, value)) = t.correlation.take() {
                response.headers_mut().insert(name, value);
            }
            if t.traceresponse {
                let sc = span.span_context();
                let value =
                    Traceparent::new(sc.trace_id(), sc.span_id(), sc.trace_flags()).encode();
                if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
                    response
                        .headers_mut()
                        .insert(HeaderName::from_static("traceresponse"), v);
                }
            }
            end(&t, &span);
            Ok(response)
        }
        Err(e) => {
            let kind = std::any::type_name::<E>();
            span.set_attribute(KeyValue::new(sc::ERROR_TYPE, kind));
            span.set_status(Status::error("inner service failed"));
            t.metric_attrs.push(KeyValue::new(sc::ERROR_TYPE, kind));
            end(&t, &span);
            Err(e)
        }
    }
}

fn record_panic(mut t: Traced, panic: &(dyn Any + Send)) {
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
    t.metric_attrs.push(KeyValue::new(sc::ERROR_TYPE, "panic"));
    end(&t, &span);
}

fn end(t: &Traced, span: &opentelemetry::trace::SpanRef<'_>) {
    let elapsed = t.start.elapsed().as_secs_f64();
    t.metrics.duration.record(elapsed, &t.metric_attrs);
    span.end();
}
