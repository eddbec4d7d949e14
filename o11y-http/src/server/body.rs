//! [`ResponseBody`]: the response body, inside the request's span, which
//! ends with it.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use opentelemetry::{
    Context, KeyValue, StringValue, Value,
    trace::{Status, TraceContextExt},
};
use pin_project_lite::pin_project;

use super::config::Config;
use crate::semconv as sc;

/// A traced request, from its start to the end of its response body. When
/// dropped (the body ended, failed or was dropped; the request failed or
/// was cancelled) it records the duration, counts the request out and ends
/// the span.
pub(crate) struct Traced {
    pub(crate) cx: Context,
    start: Instant,
    config: Arc<Config>,
    /// `http.request.method` and `url.scheme`.
    method_scheme: [&'static str; 2],
    route: Option<StringValue>,
    status: Option<u16>,
    error: Option<Value>,
    request_size: Option<u64>,
    response_size: u64,
}

impl Traced {
    pub(crate) fn new(
        cx: Context,
        start: Instant,
        config: Arc<Config>,
        method_scheme: [&'static str; 2],
        route: Option<StringValue>,
        request_size: Option<u64>,
    ) -> Self {
        let traced = Self {
            cx,
            start,
            config,
            method_scheme,
            route,
            status: None,
            error: None,
            request_size,
            response_size: 0,
        };
        let metrics = traced.config.telemetry.metrics.get();
        metrics.active.add(1, &traced.active_attributes());
        traced
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The response's status: on the span, and an error for a 5xx.
    pub(crate) fn set_status(&mut self, code: u16) {
        self.status = Some(code);
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            sc::HTTP_RESPONSE_STATUS_CODE,
            i64::from(code),
        ));
        if code >= 500 {
            let error = Value::from(code.to_string());
            span.set_attribute(KeyValue::new(sc::ERROR_TYPE, error.clone()));
            span.set_status(Status::error(""));
            self.error = Some(error);
        }
    }

    /// A failure: `error.type`, an `exception` event and the error status.
    pub(crate) fn fail(&mut self, error_type: &'static str, message: String) {
        let span = self.cx.span();
        span.add_event(
            "exception",
            vec![
                KeyValue::new(sc::EXCEPTION_TYPE, error_type),
                KeyValue::new(sc::EXCEPTION_MESSAGE, message.clone()),
            ],
        );
        span.set_attribute(KeyValue::new(sc::ERROR_TYPE, error_type));
        span.set_status(Status::error(message));
        self.error = Some(Value::from(error_type));
    }

    fn active_attributes(&self) -> [KeyValue; 2] {
        let [method, scheme] = self.method_scheme;
        [
            KeyValue::new(sc::HTTP_REQUEST_METHOD, method),
            KeyValue::new(sc::URL_SCHEME, scheme),
        ]
    }

    /// Low-cardinality attributes: method, scheme, route, status, error type.
    fn duration_attributes(&self) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(5);
        attrs.extend(self.active_attributes());
        if let Some(route) = &self.route {
            attrs.push(KeyValue::new(sc::HTTP_ROUTE, route.clone()));
        }
        if let Some(code) = self.status {
            attrs.push(KeyValue::new(
                sc::HTTP_RESPONSE_STATUS_CODE,
                i64::from(code),
            ));
        }
        if let Some(error) = &self.error {
            attrs.push(KeyValue::new(sc::ERROR_TYPE, error.clone()));
        }
        attrs
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let metrics = self.config.telemetry.metrics.get();
        metrics.active.add(-1, &self.active_attributes());
        let attrs = self.duration_attributes();
        metrics.duration.record(elapsed, &attrs);
        if self.config.body_sizes {
            if let Some(size) = self.request_size {
                metrics.request_size.record(size, &attrs);
            }
            metrics.response_size.record(self.response_size, &attrs);
        }
        self.cx.span().end();
    }
}

pin_project! {
    /// Response body of [`Server`](super::Server): the inner body, polled
    /// in the request's context; the request's span and
    /// `http.server.request.duration` end when it ends, fails (recorded on
    /// the span) or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        traced: Option<Traced>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, traced: Option<Traced>) -> Self {
        Self { inner, traced }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        task: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(traced) = this.traced.as_mut() else {
            return this.inner.poll_frame(task);
        };
        let polled = {
            let _attached = traced.cx.clone().attach();
            this.inner.as_mut().poll_frame(task)
        };
        let ended = match &polled {
            Poll::Pending => false,
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    traced.response_size += data.remaining() as u64;
                }
                this.inner.is_end_stream()
            }
            Poll::Ready(Some(Err(e))) => {
                traced.fail(std::any::type_name::<B::Error>(), e.to_string());
                true
            }
            Poll::Ready(None) => true,
        };
        if ended {
            *this.traced = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
