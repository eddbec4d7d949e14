//! The response future of [`Client`](super::Client).

use std::{
    future::Future,
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use pin_project_lite::pin_project;

use std::sync::Arc;

use super::instrument::{Call, Instrument};

pin_project! {
    /// Response future of [`Client`](super::Client).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
        instrument: Arc<Instrument>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, call: Call, instrument: Arc<Instrument>) -> Self {
        Self {
            inner,
            call: Some(call),
            instrument,
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
        let polled = match this.call.as_ref() {
            Some(call) => {
                let _attached = call.cx.clone().attach();
                this.inner.poll(task)
            }
            None => this.inner.poll(task),
        };
        let Poll::Ready(result) = polled else {
            return Poll::Pending;
        };
        if let Some(call) = this.call.take() {
            let outcome = match &result {
                Ok(response) => Ok(response.status().as_u16()),
                Err(e) => Err(error_type(e)),
            };
            this.instrument.finish(call, outcome);
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
