//! [`ResponseFuture`]: runs the inner service's future in the request's
//! span, then hands the span to the response body.

use std::{
    any::Any,
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use http::{HeaderName, HeaderValue, Response};
use o11y_core::{CorrelationContextExt, propagation::traceparent_of};
use pin_project_lite::pin_project;

use super::{ResponseBody, body::Traced};

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
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(traced) = this.traced.as_mut() else {
            return this
                .inner
                .poll(task)
                .map_ok(|r| r.map(|b| ResponseBody::new(b, None)));
        };
        let inner = this.inner;
        let polled = {
            let _attached = traced.cx.clone().attach();
            catch_unwind(AssertUnwindSafe(|| inner.poll(task)))
        };
        let result = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result,
            Err(panic) => {
                traced.fail("panic", panic_message(&*panic));
                *this.traced = None;
                resume_unwind(panic)
            }
        };
        let Some(mut traced) = this.traced.take() else {
            return Poll::Ready(result.map(|r| r.map(|b| ResponseBody::new(b, None))));
        };
        Poll::Ready(match result {
            Ok(mut response) => {
                respond(&mut traced, &mut response);
                Ok(response.map(|b| ResponseBody::new(b, Some(traced))))
            }
            Err(e) => {
                traced.fail(std::any::type_name::<E>(), "inner service failed".into());
                Err(e)
            }
        })
    }
}

/// Records the status, and adds the correlation id and `traceresponse`
/// headers.
fn respond<B>(traced: &mut Traced, response: &mut Response<B>) {
    traced.set_status(response.status().as_u16());
    let config = traced.config();
    let headers = response.headers_mut();
    if let Some(name) = config.telemetry.propagator().correlation_header() {
        // The request's id: stored in `cx`, else its span's trace id.
        let id = traced.cx.correlation();
        if let Some(value) = id.and_then(|id| HeaderValue::from_bytes(id.as_bytes()).ok()) {
            headers.insert(name.clone(), value);
        }
    }
    if config.traceresponse {
        let value = traceparent_of(&traced.cx).map(|t| t.encode());
        if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
            headers.insert(HeaderName::from_static("traceresponse"), value);
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    match panic.downcast_ref::<&str>() {
        Some(s) => (*s).to_owned(),
        None => panic
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "panic".to_owned()),
    }
}
