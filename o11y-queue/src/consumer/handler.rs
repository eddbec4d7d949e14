//! The [`Handler`] a consumer runs for each message.

use std::future::Future;

use futures_util::future::BoxFuture;

use crate::{message::Incoming, transport::BoxError};

/// Processes one message. `Ok` acks it; `Err` (or a panic) retries it, then
/// dead-letters it once the [`RetryPolicy`](crate::RetryPolicy) is spent; an
/// `Err` that is a [`Permanent`] dead-letters it at once.
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

/// A handler's error that no retry can mend (a malformed message, a
/// request the business rules refuse): the message is dead-lettered at
/// once, with this error as its reason, instead of being retried.
///
/// ```
/// use o11y_queue::{Incoming, Permanent};
///
/// let handler = |message: Incoming| async move {
///     let order: u64 = std::str::from_utf8(&message.payload)
///         .ok()
///         .and_then(|s| s.parse().ok())
///         .ok_or_else(|| Permanent::new("not an order number"))?;
///     let _ = order;
///     Ok::<(), Permanent>(())
/// };
/// # let _ = handler;
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub BoxError);

impl Permanent {
    /// Wraps `error`.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }
}

/// Processes a batch of messages at once (see
/// [`Consumer::run_batches`](crate::Consumer::run_batches)). `Ok` acks every
/// message of the batch; `Err` (or a panic) retries each of them, and
/// dead-letters those whose last allowed attempt it was; an `Err` that is a
/// [`BatchFailed`] retries (or dead-letters) only the messages it names and
/// acks the others.
///
/// Implemented for every `Fn(Vec<Incoming>) -> impl Future<Output = Result<(), E>>`.
pub trait BatchHandler: Send + Sync + 'static {
    /// Handles `batch`, in the order the broker delivered it.
    fn call(&self, batch: Vec<Incoming>) -> BoxFuture<'static, Result<(), BoxError>>;
}

impl<F, Fut, E> BatchHandler for F
where
    F: Fn(Vec<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    fn call(&self, batch: Vec<Incoming>) -> BoxFuture<'static, Result<(), BoxError>> {
        let fut = self(batch);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

/// A batch handler's error naming which messages of the batch failed, by
/// their index in the `Vec` it was given: only those are retried (or
/// dead-lettered), the others are acked. Indexes out of range are ignored.
///
/// ```
/// use o11y_queue::{BatchFailed, Incoming};
///
/// async fn store(batch: Vec<Incoming>) -> Result<(), BatchFailed> {
///     let failed: Vec<usize> = batch
///         .iter()
///         .enumerate()
///         .filter(|(_, m)| m.payload.is_empty())
///         .map(|(i, _)| i)
///         .collect();
///     if failed.is_empty() { Ok(()) } else { Err(BatchFailed::new(failed, "empty message")) }
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{} message(s) of the batch failed: {reason}", failed.len())]
pub struct BatchFailed {
    pub(super) failed: Vec<usize>,
    pub(super) reason: String,
}

impl BatchFailed {
    /// The messages at `failed` (indexes into the batch) failed for `reason`.
    pub fn new(failed: impl IntoIterator<Item = usize>, reason: impl Into<String>) -> Self {
        Self {
            failed: failed.into_iter().collect(),
            reason: reason.into(),
        }
    }

    /// The indexes of the failed messages.
    pub fn failed(&self) -> &[usize] {
        &self.failed
    }
}
