//! The response future of [`Client`](super::Client).

use std::{
    future::Future,
    pin::Pin,
    task::{Context as TaskContext, Poll},
    time::Instant,
};

use opentelemetry::{
    Context, KeyValue,
    trace::{Status, TraceContextExt},
};
use pin_project_lite::pin_project;

use crate::{metrics::ClientMetrics, semconv as sc};

pin_project! {
    /// Response future of [`Client`](super::Client).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        cx: Context,
        start: Instant,
        metrics: ClientMetrics,
        attrs: Vec<KeyValue>,
        done: bool,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        cx: Context,
        start: Instant,
        metrics: ClientMetrics,
        attrs: Vec<KeyValue>,
    ) -> Self {
        Self {
            inner,
            cx,
            start,
            metrics,
            attrs,
            done: false,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _attached = this.cx.clone().attach();
            this.inner.poll(task)
        };
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        if !*this.done {
            *this.done = true;
            let span = this.cx.span();
            let error_type: Option<opentelemetry::Value> = match &result {
                Ok(response) => {
                    let code = response.status().as_u16();
                    span.set_attribute(KeyValue::new(
                        sc::HTTP_RESPONSE_STATUS_CODE,
                        i64::from(code),
                    ));
                    this.attrs.push(KeyValue::new(
                        sc::HTTP_RESPONSE_STATUS_CODE,
                        i64::from(code),
                    ));
                    (code >= 400).then(|| sc::status_text(code))
                }
                Err(e) => Some(error_type(e).into()),
            };
            if let Some(kind) = error_type {
                span.set_attribute(KeyValue::new(sc::ERROR_TYPE, kind.clone()));
                span.set_status(Status::error(""));
                this.attrs.push(KeyValue::new(sc::ERROR_TYPE, kind));
            }
            this.metrics
                .duration
                .record(this.start.elapsed().as_secs_f64(), this.attrs);
            span.end();
        }
        Poll::Ready(result)
    }
}

/// `timeout` for tower's timeout error (boxed or not), otherwise the error's type name.
fn error_type<E: 'static>(e: &E) -> &'static str {
    let any = e as &dyn std::any::Any;
    let boxed = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>();
    let is_timeout = boxed.is_some_and(|b| {
        b.to_string().contains("timed out") || format!("{b:?}").contains("Elapsed")
    });
    if is_timeout {
        "timeout"
    } else {
        std::any::type_name::<E>()
    }
}
