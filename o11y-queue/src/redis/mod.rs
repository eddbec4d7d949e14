//! [`RedisTransport`]: Redis Streams with consumer groups.
//!
//! Each destination is a stream; the payload and every header are fields of
//! the entry, so the context rides in native metadata. Consumers read through
//! a consumer group (created at the start of the stream when missing), so
//! entries published before the first consumer started are delivered too.
//! A delivery not acknowledged within the claim idle time (a crashed
//! consumer) is claimed again by a live consumer, with its delivery count as
//! the attempt. A retry keeps the entry pending and marks it idle so it is
//! claimed again after the backoff (never later than the claim idle time).
//! Dead letters are added to `{destination}.dlq` and the original acked in
//! one script, the ack only once the add succeeded.
//!
//! Streams stay bounded by default: acked and dead-lettered entries are
//! deleted ([`RedisOptions::delete_acked`]: off when other groups read the
//! stream) and every add is capped with `MAXLEN ~`
//! ([`RedisOptions::max_len`], 1 000 000: past it Redis trims the oldest
//! entries, read or not). Consumers idle for
//! [`RedisOptions::forget_idle_consumers`] with nothing pending (earlier
//! processes: each start is a new consumer name) are removed from the group.
//!
//! # Delivery guarantees
//! At least once. The attempt is the entry's delivery count in the group's
//! pending list (`XPENDING`), which Redis raises on every `XREADGROUP` and
//! `XCLAIM`, that is before the handler runs: an entry whose consumer died
//! is claimed with its count raised, and one that kills its consumer again
//! and again is dead-lettered once it exceeds `max_attempts`. Delivered
//! twice: an entry handled but not acked before its consumer died, and one
//! whose handler runs longer than the claim idle time.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), o11y_queue::TransportError> {
//! use o11y_queue::{Producer, RedisOptions, RedisTransport};
//!
//! let redis = RedisTransport::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
//! Producer::new(redis).publish("orders", r#"{"id":42}"#).await?;
//! # Ok(()) }
//! ```

mod entry;
mod list;
mod options;
mod read;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::time::Instant;

pub use entry::PAYLOAD_FIELD;
pub use list::{LIST_ATTEMPT_HEADER, LIST_MESSAGE_ID_HEADER, RedisListReceipt, RedisListTransport};
pub use options::RedisOptions;

use crate::{
    message::{Delivery, Message, Published},
    transport::{Transport, TransportError, dead_letter_message},
};

/// A lazily opened blocking-read connection.
type Reader = Arc<tokio::sync::Mutex<Option<ConnectionManager>>>;

/// Blocking-read connections, one per destination (so consumers of
/// different destinations sharing a transport never wait for each other),
/// opened on first use.
struct Readers {
    slots: Mutex<HashMap<String, Reader>>,
    client: Client,
    config: ConnectionManagerConfig,
}

impl Readers {
    fn new(client: Client, config: ConnectionManagerConfig) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            client,
            config,
        }
    }

    /// The connection of `destination`, held until the guard drops; `None`
    /// inside only if opening it failed, which is returned as the error.
    async fn get(
        &self,
        destination: &str,
    ) -> Result<tokio::sync::OwnedMutexGuard<Option<ConnectionManager>>, TransportError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(destination.to_owned()).or_default().clone()
        };
        let mut guard = slot.lock_owned().await;
        if guard.is_none() {
            let conn = ConnectionManager::new_with_config(self.client.clone(), self.config.clone());
            *guard = Some(conn.await.map_err(|e| err("receive", destination, e))?);
        }
        Ok(guard)
    }
}

/// When a periodic check last ran, per destination.
#[derive(Default)]
struct Schedule(Mutex<HashMap<String, Instant>>);

impl Schedule {
    /// Whether `every` has passed since the last check of `destination`
    /// (then counting from now).
    fn due(&self, destination: &str, every: Duration) -> bool {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match last.get(destination) {
            Some(at) if now.duration_since(*at) < every => false,
            _ => {
                last.insert(destination.to_owned(), now);
                true
            }
        }
    }
}

/// Settles one [`RedisTransport`] delivery: the stream entry id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisReceipt(String);

/// Redis Streams transport; clones share the connections.
#[derive(Clone)]
pub struct RedisTransport {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    readers: Arc<Readers>,
    /// The blocking-read connection settings, for the list transport.
    blocking_config: ConnectionManagerConfig,
    client: Client,
    options: RedisOptions,
    consumer: String,
    server: Option<(String, u16)>,
    groups: Mutex<HashSet<String>>,
    last_claim: Schedule,
    last_forget: Schedule,
}

impl std::fmt::Debug for RedisTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTransport")
            .field("server", &self.inner.server)
            .field("consumer", &self.inner.consumer)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

fn err(operation: &'static str, destination: &str, e: redis::RedisError) -> TransportError {
    TransportError::new(operation, destination, e)
}

impl RedisTransport {
    /// Connects to `url` (`redis://host:port/db`). The consumer name is
    /// unique to this transport, so a restarted process is a new consumer.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, TransportError> {
        let client = Client::open(url).map_err(|e| err("connect", "", e))?;
        let server = match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) => Some((host.clone(), *port)),
            ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
            _ => None,
        };
        let timeout = Some(options.response_timeout);
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(timeout)
            .set_connection_timeout(timeout);
        // One plain attempt first: the connection manager retries for a
        // long while, an unreachable server should fail `connect` quickly.
        let probe = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        client
            .get_multiplexed_async_connection_with_config(&probe)
            .await
            .map_err(|e| err("connect", "", e))?;
        let conn = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| err("connect", "", e))?;
        let blocking_timeout = Some(options.response_timeout + options.block);
        let blocking_config = config.set_response_timeout(blocking_timeout);
        let consumer = format!(
            "{}-{}",
            std::process::id(),
            o11y_core::CorrelationId::generate().as_str()
        );
        Ok(Self {
            inner: Arc::new(Inner {
                conn,
                readers: Arc::new(Readers::new(client.clone(), blocking_config.clone())),
                blocking_config,
                client,
                options,
                consumer,
                server,
                groups: Mutex::new(HashSet::new()),
                last_claim: Schedule::default(),
                last_forget: Schedule::default(),
            }),
        })
    }

    /// One `XACK` (and `XDEL`, when acked entries are deleted) for `ids`.
    async fn ack_ids(&self, destination: &str, ids: &[&str]) -> Result<(), TransportError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.cmd("XACK")
            .arg(destination)
            .arg(&self.inner.options.group)
            .arg(ids);
        if self.inner.options.delete_acked {
            pipe.cmd("XDEL").arg(destination).arg(ids);
        }
        pipe.query_async::<()>(&mut self.inner.conn.clone())
            .await
            .map_err(|e| err("ack", destination, e))
    }

    /// This transport's consumer name in the group.
    pub fn consumer_name(&self) -> &str {
        &self.inner.consumer
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn xadd(stream: &str, message: &Message, max_len: Option<usize>) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(stream);
    if let Some(n) = max_len {
        cmd.arg("MAXLEN").arg("~").arg(n);
    }
    cmd.arg("*");
    for (k, v) in entry::fields(message) {
        cmd.arg(k).arg(v);
    }
    cmd
}

/// Adds the dead letter, then, only if that worked, acks the original (and
/// deletes it when acked entries are deleted): KEYS = stream, dead-letter
/// stream; ARGV = group, entry id, delete (`1`/`0`), max length (`0`: no
/// cap), then the dead letter's field/value pairs. A failed `XADD` raises
/// an error before the ack, so the entry stays pending and comes back.
const DEAD_LETTER: &str = r"
local add = {'XADD', KEYS[2]}
if ARGV[4] ~= '0' then
  add[#add + 1] = 'MAXLEN'; add[#add + 1] = '~'; add[#add + 1] = ARGV[4]
end
add[#add + 1] = '*'
for i = 5, #ARGV do add[#add + 1] = ARGV[i] end
redis.call(unpack(add))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
return 1";

impl Transport for RedisTransport {
    type Receipt = RedisReceipt;

    fn system(&self) -> &'static str {
        "redis"
    }

    fn server(&self) -> Option<(&str, u16)> {
        self.inner.server.as_ref().map(|(h, p)| (h.as_str(), *p))
    }

    async fn publish(
        &self,
        destination: &str,
        message: Message,
    ) -> Result<Published, TransportError> {
        let id: String = xadd(destination, &message, self.inner.options.max_len)
            .query_async(&mut self.inner.conn.clone())
            .await
            .map_err(|e| err("publish", destination, e))?;
        Ok(Published::with_id(id))
    }

    async fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<RedisReceipt>>, TransportError> {
        let max = max.max(1);
        match self.receive_once(destination, max).await {
            // The stream or group was deleted under us: create it again once.
            Err(e) if e.source.to_string().contains("NOGROUP") => {
                self.inner
                    .groups
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(destination);
                self.receive_once(destination, max).await
            }
            other => other,
        }
    }

    async fn ack(
        &self,
        destination: &str,
        delivery: &Delivery<RedisReceipt>,
    ) -> Result<(), TransportError> {
        self.ack_ids(destination, &[&delivery.receipt.0]).await
    }

    async fn ack_batch(
        &self,
        destination: &str,
        deliveries: &[&Delivery<RedisReceipt>],
    ) -> Result<(), TransportError> {
        let ids: Vec<&str> = deliveries.iter().map(|d| d.receipt.0.as_str()).collect();
        self.ack_ids(destination, &ids).await
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.inner.options.claim_idle)
    }

    /// `XCLAIM` by this same consumer: the entry's idle time starts again
    /// (`JUSTID`: its delivery count stays).
    async fn extend(
        &self,
        destination: &str,
        delivery: &Delivery<RedisReceipt>,
    ) -> Result<(), TransportError> {
        redis::cmd("XCLAIM")
            .arg(destination)
            .arg(&self.inner.options.group)
            .arg(&self.inner.consumer)
            .arg(0)
            .arg(&delivery.receipt.0)
            .arg("JUSTID")
            .query_async::<()>(&mut self.inner.conn.clone())
            .await
            .map_err(|e| err("extend", destination, e))
    }

    async fn retry(
        &self,
        destination: &str,
        delivery: &Delivery<RedisReceipt>,
        delay: Duration,
    ) -> Result<(), TransportError> {
        // Pending entries are claimed once idle for `claim_idle`: pretend it
        // has been idle for `claim_idle - delay` already.
        let o = &self.inner.options;
        let idle = o.claim_idle.saturating_sub(delay);
        redis::cmd("XCLAIM")
            .arg(destination)
            .arg(&o.group)
            .arg(&self.inner.consumer)
            .arg(0)
            .arg(&delivery.receipt.0)
            .arg("IDLE")
            .arg(millis(idle))
            .arg("JUSTID")
            .query_async::<()>(&mut self.inner.conn.clone())
            .await
            .map_err(|e| err("retry", destination, e))
    }

    async fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<RedisReceipt>,
        reason: &str,
    ) -> Result<(), TransportError> {
        let target = self.dead_letter_destination(destination);
        let message = dead_letter_message(delivery, reason);
        let o = &self.inner.options;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(DEAD_LETTER)
            .arg(2)
            .arg(destination)
            .arg(&target)
            .arg(&o.group)
            .arg(&delivery.receipt.0)
            .arg(if o.delete_acked { "1" } else { "0" })
            .arg(o.max_len.unwrap_or(0));
        for (k, v) in entry::fields(&message) {
            cmd.arg(k).arg(v);
        }
        cmd.query_async::<()>(&mut self.inner.conn.clone())
            .await
            .map_err(|e| err("dead_letter", destination, e))
    }
}
