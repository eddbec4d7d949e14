//! The connection and publishing channel of an [`AmqpTransport`](super::AmqpTransport),
//! opened again, with backoff, after either dies.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use lapin::{Channel, Connection, ConnectionProperties, options::ConfirmSelectOptions};
use tokio::time::Instant;

use crate::transport::TransportError;

/// One connection, its publishing channel (in confirm mode), and the queues
/// declared on it: a new link declares its topology again.
pub(super) struct Link {
    pub(super) connection: Arc<Connection>,
    pub(super) publisher: Channel,
    declared: Mutex<HashSet<String>>,
}

impl Link {
    fn alive(&self) -> bool {
        self.connection.status().connected() && self.publisher.status().connected()
    }

    /// Whether `queue` was declared on this link.
    pub(super) fn declared(&self, queue: &str) -> bool {
        self.set().contains(queue)
    }

    pub(super) fn mark_declared(&self, queue: &str, declared: bool) {
        if declared {
            self.set().insert(queue.to_owned());
        } else {
            self.set().remove(queue);
        }
    }

    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.declared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The current link, and when the next reconnect may be tried.
pub(super) struct Links {
    uri: String,
    timeout: Duration,
    state: tokio::sync::Mutex<State>,
}

struct State {
    link: Arc<Link>,
    failures: u32,
    next_try: Option<Instant>,
}

impl Links {
    /// Connects once; an unreachable broker is an error here.
    pub(super) async fn connect(uri: &str, timeout: Duration) -> Result<Self, TransportError> {
        let link = open(uri, None, timeout).await?;
        Ok(Self {
            uri: uri.to_owned(),
            timeout,
            state: tokio::sync::Mutex::new(State {
                link: Arc::new(link),
                failures: 0,
                next_try: None,
            }),
        })
    }

    /// The live link. When the connection or the publishing channel died,
    /// opens them again (a new channel on a live connection, else a new
    /// connection); after a failed try, the next waits 100 ms doubling up
    /// to 5 s, and calls meanwhile fail at once.
    pub(super) async fn get(&self) -> Result<Arc<Link>, TransportError> {
        let mut state = self.state.lock().await;
        if state.link.alive() {
            return Ok(state.link.clone());
        }
        if let Some(at) = state.next_try
            && Instant::now() < at
        {
            return Err(TransportError::new(
                "connect",
                "",
                "the connection to RabbitMQ is down; reconnecting with backoff",
            ));
        }
        match open(&self.uri, Some(&state.link), self.timeout).await {
            Ok(link) => {
                tracing::info!("reconnected to RabbitMQ");
                state.link = Arc::new(link);
                state.failures = 0;
                state.next_try = None;
                Ok(state.link.clone())
            }
            Err(e) => {
                state.failures = state.failures.saturating_add(1);
                state.next_try = Some(Instant::now() + backoff(state.failures));
                tracing::warn!(error = %e, failures = state.failures, "reconnect to RabbitMQ failed");
                Err(e)
            }
        }
    }

    /// Closes the current connection.
    pub(super) async fn close(&self) {
        let link = self.state.lock().await.link.clone();
        let _ = link.connection.close(200, "closing").await;
    }
}

fn backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(5_000))
}

/// A new publishing channel on `old`'s connection while it lives, else a
/// new connection; both bounded by `timeout`.
async fn open(uri: &str, old: Option<&Link>, timeout: Duration) -> Result<Link, TransportError> {
    let opening = async {
        let connection = match old {
            Some(link) if link.connection.status().connected() => link.connection.clone(),
            _ => Arc::new(Connection::connect(uri, ConnectionProperties::default()).await?),
        };
        let publisher = connection.create_channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok::<_, lapin::Error>(Link {
            connection,
            publisher,
            declared: Mutex::new(HashSet::new()),
        })
    };
    match tokio::time::timeout(timeout, opening).await {
        Ok(Ok(link)) => Ok(link),
        Ok(Err(e)) => Err(TransportError::new("connect", "", e)),
        Err(_) => Err(TransportError::new(
            "connect",
            "",
            format!("no connection to RabbitMQ within {timeout:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap() {
        let ms: Vec<u128> = [1, 2, 3, 7, 50].map(|n| backoff(n).as_millis()).to_vec();
        assert_eq!(ms, [100, 200, 400, 5_000, 5_000]);
    }
}
