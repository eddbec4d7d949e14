//! The [`Handler`] a consumer runs for each message.

use std::future::Future;

use futures_util::future::BoxFuture;

use crate::{message::Incoming, transport::BoxError};

/// Processes one message. `Ok` acks it; `Err` (or a panic) retries it, then
/// dead-letters it once the [`RetryPolicy`](crate::RetryPolicy) is spent.
///
/// Implemented for every `Fn(Incoming) -> impl Future<Output = Result<(), E>>`.
pub trait Handler: Send + Sync + 'static {
    /// Handles `message`.
    fn call(&self, message: Incoming) -> BoxFuture<'static, Result<(), BoxError>>;
}

impl<F, Fut, E> Handler for F
where
    F: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    fn call(&self, message: Incoming) -> BoxFuture<'static, Result<(), BoxError>> {
        let fut = self(message);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}
