//! Deliveries whose handler was still running when the shutdown deadline
//! passed: handed back to the broker instead of waiting for its timeout.

use std::{
    mem,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use futures_util::future::join_all;

use crate::{message::Delivery, transport::Transport};

/// Where the deliveries of dropped handlers are left.
pub(super) struct Unsettled<R>(Mutex<Vec<Delivery<R>>>);

impl<R> Default for Unsettled<R> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<R> Unsettled<R> {
    fn push(&self, deliveries: impl IntoIterator<Item = Delivery<R>>) {
        let mut left = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        left.extend(deliveries);
    }

    /// Hands every delivery left back to the broker
    /// ([`Transport::release`]), all within `timeout`.
    pub(super) async fn release<T>(&self, transport: &T, destination: &str, timeout: Duration)
    where
        T: Transport<Receipt = R>,
    {
        let left = mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        if left.is_empty() {
            return;
        }
        let releases = left.iter().map(|d| transport.release(destination, d));
        let released = tokio::time::timeout(timeout, join_all(releases)).await;
        let failed = released.map_or(left.len(), |all| all.iter().filter(|r| r.is_err()).count());
        tracing::warn!(
            released = left.len() - failed,
            failed,
            destination,
            "shutdown deadline passed: unfinished deliveries released to the broker \
             (those that failed come back after the broker's timeout)"
        );
    }
}

/// Holds deliveries while their handler runs; if the handler's future is
/// dropped (the shutdown deadline passed), leaves them in [`Unsettled`].
pub(super) struct Held<'a, R> {
    unsettled: &'a Unsettled<R>,
    deliveries: Vec<Delivery<R>>,
}

impl<'a, R> Held<'a, R> {
    pub(super) fn new(unsettled: &'a Unsettled<R>, deliveries: Vec<Delivery<R>>) -> Self {
        Self {
            unsettled,
            deliveries,
        }
    }

    pub(super) fn get(&self) -> &[Delivery<R>] {
        &self.deliveries
    }

    /// The handler finished: the deliveries go on to be settled.
    pub(super) fn finish(mut self) -> Vec<Delivery<R>> {
        mem::take(&mut self.deliveries)
    }
}

impl<R> Drop for Held<'_, R> {
    fn drop(&mut self) {
        if !self.deliveries.is_empty() {
            self.unsettled.push(mem::take(&mut self.deliveries));
        }
    }
}
