//! Group commit for acks: handlers that finish together are acked in one
//! [`Transport::ack_batch`] call (one `XACK` with many ids on Redis, one
//! `DeleteMessageBatch` on SQS) instead of one broker call each.
//!
//! There is no background task: whoever acks while no flush is running
//! leads one flush of everything queued by then (its own delivery included)
//! and hands the turn on; the others wait for their result, or for the turn.
//! Every task leads at most one flush, so no handler's span is held open by
//! other handlers' acks.

use std::{
    mem,
    pin::pin,
    sync::{Mutex, MutexGuard, PoisonError},
};

use tokio::sync::{Notify, oneshot};

use crate::{message::Delivery, transport::Transport};

type Outcome = Result<(), String>;

pub(super) struct AckQueue<R> {
    state: Mutex<State<R>>,
    turn: Notify,
}

struct State<R> {
    pending: Vec<(Delivery<R>, oneshot::Sender<Outcome>)>,
    flushing: bool,
}

impl<R> Default for AckQueue<R> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                pending: Vec::new(),
                flushing: false,
            }),
            turn: Notify::new(),
        }
    }
}

impl<R: Send + Sync + 'static> AckQueue<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Acks `delivery` together with whatever else is queued; the error
    /// text when the broker call failed.
    pub(super) async fn ack<T>(
        &self,
        transport: &T,
        destination: &str,
        delivery: Delivery<R>,
    ) -> Outcome
    where
        T: Transport<Receipt = R>,
    {
        let (tx, mut rx) = oneshot::channel();
        self.lock().pending.push((delivery, tx));
        loop {
            let notified = self.turn.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            match rx.try_recv() {
                Ok(outcome) => return outcome,
                Err(oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let lead = {
                let mut state = self.lock();
                let lead = !state.flushing && !state.pending.is_empty();
                state.flushing |= lead;
                lead
            };
            if lead {
                self.flush(transport, destination).await;
                continue;
            }
            tokio::select! {
                outcome = &mut rx => return outcome.unwrap_or_else(|_| Err(abandoned())),
                () = notified => {}
            }
        }
    }

    /// One flush; the caller holds the turn.
    async fn flush<T>(&self, transport: &T, destination: &str)
    where
        T: Transport<Receipt = R>,
    {
        let _turn = Turn(self);
        // Let the handlers finishing in this same pass queue their acks.
        tokio::task::yield_now().await;
        let batch = mem::take(&mut self.lock().pending);
        if batch.is_empty() {
            return;
        }
        let deliveries: Vec<&Delivery<R>> = batch.iter().map(|(d, _)| d).collect();
        let outcome = transport
            .ack_batch(destination, &deliveries)
            .await
            .map_err(|e| e.to_string());
        for (_, tx) in batch {
            let _ = tx.send(outcome.clone());
        }
    }
}

/// Gives the turn back when a flush ends, also when it is cancelled: before
/// its broker call, the queued deliveries wait for the next flush; during it,
/// their waiters see the ack abandoned and the broker redelivers them.
struct Turn<'a, R>(&'a AckQueue<R>);

impl<R> Drop for Turn<'_, R> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.flushing = false;
        drop(state);
        self.0.turn.notify_waiters();
    }
}

fn abandoned() -> String {
    "the ack was abandoned before it reached the broker".to_owned()
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;
    use crate::{
        MemoryReceipt, MemoryTransport,
        message::{Message, Published},
        transport::TransportError,
    };

    /// The memory transport, counting the broker calls that settle.
    #[derive(Default)]
    struct Counting {
        inner: MemoryTransport,
        batches: AtomicUsize,
        acked: AtomicUsize,
    }

    impl Transport for Counting {
        type Receipt = MemoryReceipt;
        fn system(&self) -> &'static str {
            "memory"
        }
        async fn publish(&self, d: &str, m: Message) -> Result<Published, TransportError> {
            self.inner.publish(d, m).await
        }
        async fn receive(
            &self,
            d: &str,
            max: usize,
        ) -> Result<Vec<Delivery<MemoryReceipt>>, TransportError> {
            self.inner.receive(d, max).await
        }
        async fn ack(&self, d: &str, x: &Delivery<MemoryReceipt>) -> Result<(), TransportError> {
            self.inner.ack(d, x).await
        }
        async fn ack_batch(
            &self,
            d: &str,
            xs: &[&Delivery<MemoryReceipt>],
        ) -> Result<(), TransportError> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            self.acked.fetch_add(xs.len(), Ordering::SeqCst);
            self.inner.ack_batch(d, xs).await
        }
        async fn retry(
            &self,
            d: &str,
            x: &Delivery<MemoryReceipt>,
            delay: Duration,
        ) -> Result<(), TransportError> {
            self.inner.retry(d, x, delay).await
        }
        async fn dead_letter(
            &self,
            d: &str,
            x: &Delivery<MemoryReceipt>,
            reason: &str,
        ) -> Result<(), TransportError> {
            self.inner.dead_letter(d, x, reason).await
        }
    }

    #[tokio::test]
    async fn acks_finishing_together_share_one_broker_call() {
        let t = Counting::default();
        for i in 0..3 {
            t.publish("q", Message::new(format!("m{i}"))).await.unwrap();
        }
        let mut deliveries = t.receive("q", 10).await.unwrap();
        assert_eq!(deliveries.len(), 3);
        let queue = AckQueue::default();
        let (c, b, a) = (
            deliveries.pop().unwrap(),
            deliveries.pop().unwrap(),
            deliveries.pop().unwrap(),
        );
        let (ra, rb, rc) = tokio::join!(
            queue.ack(&t, "q", a),
            queue.ack(&t, "q", b),
            queue.ack(&t, "q", c)
        );
        assert_eq!((ra, rb, rc), (Ok(()), Ok(()), Ok(())));
        assert_eq!(t.batches.load(Ordering::SeqCst), 1, "one broker call");
        assert_eq!(t.acked.load(Ordering::SeqCst), 3);
        // A later ack leads a flush of its own.
        t.publish("q", Message::new("late")).await.unwrap();
        let late = t.receive("q", 10).await.unwrap().pop().unwrap();
        assert_eq!(queue.ack(&t, "q", late).await, Ok(()));
        assert_eq!(t.batches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cancelled_flush_hands_the_turn_on() {
        let t = Counting::default();
        t.publish("q", Message::new("a")).await.unwrap();
        t.publish("q", Message::new("b")).await.unwrap();
        let mut deliveries = t.receive("q", 10).await.unwrap();
        let (b, a) = (deliveries.pop().unwrap(), deliveries.pop().unwrap());
        let queue = AckQueue::default();
        {
            // The leader is dropped at its yield, before its flush: its
            // handler had succeeded, so its delivery stays queued.
            let mut leader = Box::pin(queue.ack(&t, "q", a));
            assert!(futures_util::poll!(leader.as_mut()).is_pending());
        }
        assert_eq!(
            queue.ack(&t, "q", b).await,
            Ok(()),
            "the turn was handed on"
        );
        assert_eq!(t.batches.load(Ordering::SeqCst), 1);
        assert_eq!(
            t.acked.load(Ordering::SeqCst),
            2,
            "both acked in the next flush"
        );
        assert!(t.receive("q", 10).await.unwrap().is_empty());
    }
}
