//! [`RedisListTransport`]: Redis lists, the reliable-queue pattern.
//!
//! A list carries bytes and nothing else, so headers (the trace context
//! among them) travel in the versioned payload [`envelope`]: the
//! [`Producer`](crate::Producer) wraps them, and a delivery's payload is the
//! envelope, which the [`Consumer`](crate::Consumer) unwraps. A plain body
//! pushed by another producer is consumed as it is, in a new trace.
//!
//! - publish: `LPUSH {destination}`; a message with headers gets an id
//!   (`x-o11y-message-id` in its envelope);
//! - receive: `BLMOVE {destination} {destination}:processing:{consumer} RIGHT LEFT`
//!   (oldest first), so a message being handled is never only in memory;
//! - ack: `LREM` from the processing list;
//! - retry: the attempt count (header `x-o11y-attempt`) raised, the message
//!   moved from the processing list to the sorted set `{destination}:delayed`,
//!   scored by when it is due, and pushed back once due;
//! - dead letter: moved to `{destination}.dlq` with the reason headers;
//! - a crashed consumer: each consumer keeps `{destination}:alive:{consumer}`
//!   alive (expiring after the claim idle time); a live consumer moves a dead
//!   one's processing list back to the queue, attempt raised.
//!
//! - a lost reply (a `BLMOVE`/`LMOVE` whose connection died after Redis
//!   moved the element) or a failed settle leaves an element in this live
//!   consumer's processing list that no handler holds: the transport keeps
//!   count of the elements it handed out and not yet settled, and every
//!   claim idle time moves the others back to the queue, attempt raised.
//!
//! At least once: the attempt is the `x-o11y-attempt` envelope header,
//! raised by a retry and whenever a message is moved back from a processing
//! list, so a message that kills its consumer is dead-lettered once it
//! exceeds `max_attempts`. Delivered twice: what a consumer handled but did
//! not remove from its processing list before it died, or whose removal
//! failed.
//!
//! Every move is one Lua script (remove, then add only if removed), so a
//! message is never lost nor doubled by two consumers racing.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), o11y_queue::TransportError> {
//! use o11y_queue::{Producer, RedisListTransport, RedisOptions};
//!
//! let redis = RedisListTransport::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
//! Producer::new(redis).publish("orders", r#"{"id":42}"#).await?;
//! # Ok(()) }
//! ```

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use redis::aio::ConnectionManager;

use super::{Readers, RedisOptions, Schedule, err, millis};
use crate::{
    envelope,
    message::{Delivery, Headers, Message, Published},
    transport::{DEAD_LETTER_ATTEMPTS, DEAD_LETTER_REASON, Transport, TransportError},
};

/// The envelope header holding the delivery attempt of a retried message.
pub const LIST_ATTEMPT_HEADER: &str = "x-o11y-attempt";
/// Makes each retried message a distinct member of the delayed set.
const RETRY_NONCE: &str = "x-o11y-retry";
/// The envelope header holding the message id given at publish.
pub const LIST_MESSAGE_ID_HEADER: &str = "x-o11y-message-id";

/// Removes ARGV[1] from KEYS[1]; only if it was there, adds ARGV[2] to KEYS[2]
/// (`RPUSH`, `LPUSH`, or `ZADD` with score ARGV[3], per ARGV[4]).
const MOVE: &str = r"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  if ARGV[4] == 'zadd' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  else redis.call(ARGV[4], KEYS[2], ARGV[2]) end
  return 1
end
return 0";

/// Moves up to ARGV[2] members of the sorted set KEYS[1] scored at most
/// ARGV[1] to the consuming end of the list KEYS[2].
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(due) do
  if redis.call('ZREM', KEYS[1], m) == 1 then redis.call('RPUSH', KEYS[2], m) end
end
return #due";

/// Settles one [`RedisListTransport`] delivery: the element as stored in the
/// processing list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisListReceipt(Bytes);

/// Redis lists with processing lists, delayed retries and dead-consumer
/// recovery; clones share the connections.
#[derive(Clone)]
pub struct RedisListTransport {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    readers: Readers,
    options: RedisOptions,
    consumer: String,
    server: Option<(String, u16)>,
    last_check: Schedule,
    /// Elements handed out and not yet settled, per destination, counted.
    held: Mutex<HashMap<String, HashMap<Bytes, usize>>>,
    last_scan: Schedule,
}

impl std::fmt::Debug for RedisListTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisListTransport")
            .field("server", &self.inner.server)
            .field("consumer", &self.inner.consumer)
            .finish_non_exhaustive()
    }
}

fn processing(destination: &str, consumer: &str) -> String {
    format!("{destination}:processing:{consumer}")
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The headers and body of a stored element: an envelope's, or none and the
/// element itself (a plain body, or an envelope too corrupt to read).
fn open(element: &Bytes) -> (Headers, Bytes) {
    match envelope::decode_bytes(element) {
        Some(Ok((headers, body))) => (headers, body),
        _ => (Headers::new(), element.clone()),
    }
}

fn attempt_of(element: &Bytes) -> u32 {
    let (headers, _) = open(element);
    headers
        .get(LIST_ATTEMPT_HEADER)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// `element` again, with its attempt raised and a fresh retry nonce.
fn next_attempt(element: &Bytes) -> Bytes {
    let (mut headers, body) = open(element);
    let attempt = attempt_of(element).saturating_add(1);
    headers.insert(LIST_ATTEMPT_HEADER.to_owned(), attempt.to_string());
    let nonce = o11y_core::CorrelationId::generate();
    headers.insert(RETRY_NONCE.to_owned(), nonce.as_str().to_owned());
    envelope::encode(&headers, &body)
}

impl RedisListTransport {
    /// Connects to `url` (`redis://host:port/db`); the consumer name is unique
    /// to this transport. Uses `claim_idle` (how long a silent consumer keeps
    /// its messages), `claim_check`, `block` and `response_timeout` of
    /// `options`.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, TransportError> {
        let streams = super::RedisTransport::connect(url, options.clone()).await?;
        let s = &streams.inner;
        Ok(Self {
            inner: Arc::new(Inner {
                conn: s.conn.clone(),
                readers: Readers::new(s.client.clone(), s.blocking_config.clone()),
                options,
                consumer: s.consumer.clone(),
                server: s.server.clone(),
                last_check: Schedule::default(),
                held: Mutex::new(HashMap::new()),
                last_scan: Schedule::default(),
            }),
        })
    }

    /// This transport's consumer name.
    pub fn consumer_name(&self) -> &str {
        &self.inner.consumer
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    async fn eval(&self, script: &str, keys: &[&str], args: &[&[u8]]) -> redis::RedisResult<i64> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len());
        for k in keys {
            cmd.arg(*k);
        }
        for a in args {
            cmd.arg(*a);
        }
        cmd.query_async(&mut self.conn()).await
    }

    /// Moves `element` out of this consumer's processing list into `to`.
    async fn settle_move(
        &self,
        operation: &'static str,
        destination: &str,
        element: &Bytes,
        to: (&str, &[u8], &str, u64),
    ) -> Result<(), TransportError> {
        let from = processing(destination, &self.inner.consumer);
        let (key, value, how, score) = to;
        let score = score.to_string();
        let args: [&[u8]; 4] = [&element[..], value, score.as_bytes(), how.as_bytes()];
        let moved = self
            .eval(MOVE, &[&from, key], &args)
            .await
            .map(drop)
            .map_err(|e| err(operation, destination, e));
        self.hold(destination, &[element], false);
        moved
    }

    /// Whether it is time for the heartbeat, due retries and dead consumers.
    fn check_due(&self, destination: &str) -> bool {
        let every = self.inner.options.claim_check;
        self.inner.last_check.due(destination, every)
    }

    /// Heartbeat, due retries back in the queue, dead consumers' messages back.
    async fn housekeeping(&self, destination: &str) -> Result<(), TransportError> {
        let me = &self.inner.consumer;
        let members = format!("{destination}:consumers");
        let ttl = millis(self.inner.options.claim_idle).max(1);
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(format!("{destination}:alive:{me}"))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .ignore();
        // Every time: another consumer that took this one for dead removed it.
        pipe.cmd("SADD").arg(&members).arg(me).ignore();
        pipe.cmd("SMEMBERS").arg(&members);
        let (consumers,): (Vec<String>,) = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(|e| err("receive", destination, e))?;
        let delayed = format!("{destination}:delayed");
        let now = now_ms().to_string();
        self.eval(PROMOTE, &[&delayed, destination], &[now.as_bytes(), b"100"])
            .await
            .map_err(|e| err("receive", destination, e))?;
        let others: Vec<&String> = consumers.iter().filter(|c| *c != me).collect();
        if others.is_empty() {
            return Ok(());
        }
        // One round trip for every other consumer's heartbeat.
        let mut pipe = redis::pipe();
        for other in &others {
            pipe.cmd("EXISTS")
                .arg(format!("{destination}:alive:{other}"));
        }
        let alive: Vec<bool> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(|e| err("receive", destination, e))?;
        for (other, alive) in others.into_iter().zip(alive) {
            if !alive {
                self.recover(destination, other).await?;
            }
        }
        Ok(())
    }

    /// Moves a dead consumer's processing list back to the queue.
    async fn recover(&self, destination: &str, other: &str) -> Result<(), TransportError> {
        let mut conn = self.conn();
        let list = processing(destination, other);
        let held: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(&list)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(|e| err("receive", destination, e))?;
        for element in held {
            let again = next_attempt(&Bytes::from(element.clone()));
            let args: [&[u8]; 4] = [&element, &again, b"0", b"RPUSH"];
            self.eval(MOVE, &[&list, destination], &args)
                .await
                .map_err(|e| err("receive", destination, e))?;
        }
        let _: () = redis::cmd("SREM")
            .arg(format!("{destination}:consumers"))
            .arg(other)
            .query_async(&mut conn)
            .await
            .map_err(|e| err("receive", destination, e))?;
        Ok(())
    }

    /// Counts `elements` as handed out (`up`) or settled.
    fn hold(&self, destination: &str, elements: &[&Bytes], up: bool) {
        let mut held = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let held = held.entry(destination.to_owned()).or_default();
        for element in elements {
            if up {
                *held.entry((*element).clone()).or_default() += 1;
            } else if let Some(n) = held.get_mut(*element) {
                *n -= 1;
                if *n == 0 {
                    held.remove(*element);
                }
            }
        }
    }

    /// Moves back to the queue (attempt raised) what this consumer's
    /// processing list holds beyond what its handlers hold: elements whose
    /// move reply was lost, or whose settle failed. Runs while the caller
    /// holds the destination's reader, so no move of ours is in flight.
    async fn rescue_orphans(&self, destination: &str) -> Result<(), TransportError> {
        let list = processing(destination, &self.inner.consumer);
        let listed: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(&list)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| err("receive", destination, e))?;
        let mut budget = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(destination)
            .cloned()
            .unwrap_or_default();
        for element in listed {
            let element = Bytes::from(element);
            match budget.get_mut(&element) {
                Some(n) if *n > 0 => *n -= 1,
                _ => {
                    let again = next_attempt(&element);
                    let args: [&[u8]; 4] = [&element, &again, b"0", b"RPUSH"];
                    self.eval(MOVE, &[&list, destination], &args)
                        .await
                        .map_err(|e| err("receive", destination, e))?;
                    tracing::warn!(
                        destination,
                        "moved an unheld element of the processing list back to the queue"
                    );
                }
            }
        }
        Ok(())
    }

    /// One blocking move, then up to `max - 1` more without waiting; what
    /// was moved is counted as held before the reader is let go.
    async fn take(&self, destination: &str, max: usize) -> Result<Vec<Bytes>, TransportError> {
        let to = processing(destination, &self.inner.consumer);
        let mut guard = self.inner.readers.get(destination).await?;
        let every = self.inner.options.claim_idle;
        if self.inner.last_scan.due(destination, every) {
            self.rescue_orphans(destination).await?;
        }
        let Some(conn) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let block = self.inner.options.block.as_secs_f64().max(0.01);
        let first: Option<Vec<u8>> = redis::cmd("BLMOVE")
            .arg(destination)
            .arg(&to)
            .arg("RIGHT")
            .arg("LEFT")
            .arg(block)
            .query_async(conn)
            .await
            .map_err(|e| err("receive", destination, e))?;
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut out = vec![Bytes::from(first)];
        if max > 1 {
            let mut pipe = redis::pipe();
            for _ in 1..max {
                pipe.cmd("LMOVE")
                    .arg(destination)
                    .arg(&to)
                    .arg("RIGHT")
                    .arg("LEFT");
            }
            let more: Vec<Option<Vec<u8>>> = pipe
                .query_async(conn)
                .await
                .map_err(|e| err("receive", destination, e))?;
            out.extend(more.into_iter().flatten().map(Bytes::from));
        }
        self.hold(destination, &out.iter().collect::<Vec<_>>(), true);
        drop(guard);
        Ok(out)
    }
}

impl Transport for RedisListTransport {
    type Receipt = RedisListReceipt;

    fn system(&self) -> &'static str {
        "redis"
    }

    fn server(&self) -> Option<(&str, u16)> {
        self.inner.server.as_ref().map(|(h, p)| (h.as_str(), *p))
    }

    fn native_headers(&self) -> bool {
        false
    }

    async fn publish(
        &self,
        destination: &str,
        message: Message,
    ) -> Result<Published, TransportError> {
        // A message with headers (or already in an envelope, as a Producer
        // sends it) gets an id in its envelope; a plain body stays as it is.
        let id = o11y_core::CorrelationId::generate().as_str().to_owned();
        let opened = match envelope::decode_bytes(&message.payload) {
            Some(Ok((inner, body))) if message.headers.is_empty() => Some((inner, body)),
            _ if !message.headers.is_empty() => Some((message.headers, message.payload.clone())),
            _ => None,
        };
        let (element, id) = match opened {
            Some((mut headers, body)) => {
                headers.insert(LIST_MESSAGE_ID_HEADER.to_owned(), id.clone());
                (envelope::encode(&headers, &body), Some(id))
            }
            None => (message.payload, None),
        };
        let _: i64 = redis::cmd("LPUSH")
            .arg(destination)
            .arg(&element[..])
            .query_async(&mut self.conn())
            .await
            .map_err(|e| err("publish", destination, e))?;
        Ok(Published { id })
    }

    async fn receive(
        &self,
        destination: &str,
        max: usize,
    ) -> Result<Vec<Delivery<RedisListReceipt>>, TransportError> {
        if self.check_due(destination) {
            self.housekeeping(destination).await?;
        }
        let taken = self.take(destination, max.max(1)).await?;
        Ok(taken
            .into_iter()
            .map(|element| Delivery {
                attempt: attempt_of(&element),
                id: open(&element).0.remove(LIST_MESSAGE_ID_HEADER),
                message: Message::new(element.clone()),
                enqueued_at: None,
                receipt: RedisListReceipt(element),
            })
            .collect())
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.inner.options.claim_idle)
    }

    /// The consumer's heartbeat, so that a consumer whose every slot is
    /// busy with slow handlers (and so does not receive) is not taken for
    /// dead.
    async fn extend(
        &self,
        destination: &str,
        _delivery: &Delivery<RedisListReceipt>,
    ) -> Result<(), TransportError> {
        let me = &self.inner.consumer;
        let ttl = millis(self.inner.options.claim_idle).max(1);
        redis::cmd("SET")
            .arg(format!("{destination}:alive:{me}"))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(|e| err("extend", destination, e))
    }

    async fn ack(
        &self,
        destination: &str,
        delivery: &Delivery<RedisListReceipt>,
    ) -> Result<(), TransportError> {
        self.ack_batch(destination, &[delivery]).await
    }

    async fn ack_batch(
        &self,
        destination: &str,
        deliveries: &[&Delivery<RedisListReceipt>],
    ) -> Result<(), TransportError> {
        let list = processing(destination, &self.inner.consumer);
        let mut pipe = redis::pipe();
        for d in deliveries {
            pipe.cmd("LREM")
                .arg(&list)
                .arg(1)
                .arg(&d.receipt.0[..])
                .ignore();
        }
        let acked = pipe
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(|e| err("ack", destination, e));
        let elements: Vec<&Bytes> = deliveries.iter().map(|d| &d.receipt.0).collect();
        self.hold(destination, &elements, false);
        acked
    }

    async fn retry(
        &self,
        destination: &str,
        delivery: &Delivery<RedisListReceipt>,
        delay: Duration,
    ) -> Result<(), TransportError> {
        let again = next_attempt(&delivery.receipt.0);
        let due = now_ms().saturating_add(millis(delay));
        let delayed = format!("{destination}:delayed");
        let to = (delayed.as_str(), &again[..], "zadd", due);
        self.settle_move("retry", destination, &delivery.receipt.0, to)
            .await
    }

    async fn dead_letter(
        &self,
        destination: &str,
        delivery: &Delivery<RedisListReceipt>,
        reason: &str,
    ) -> Result<(), TransportError> {
        let target = self.dead_letter_destination(destination);
        // The original headers (its trace context) stay, the reason joins them.
        let (mut headers, body) = open(&delivery.receipt.0);
        let marked = crate::transport::dead_letter_message(delivery, reason).headers;
        for name in [DEAD_LETTER_REASON, DEAD_LETTER_ATTEMPTS] {
            if let Some(v) = marked.get(name) {
                headers.insert(name.to_owned(), v.clone());
            }
        }
        let element = envelope::encode(&headers, &body);
        let to = (target.as_str(), &element[..], "LPUSH", 0);
        self.settle_move("dead_letter", destination, &delivery.receipt.0, to)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_ride_in_the_envelope() {
        let plain = Bytes::from_static(b"plain body");
        assert_eq!(attempt_of(&plain), 1);
        let second = next_attempt(&plain);
        assert_eq!(attempt_of(&second), 2);
        let (headers, body) = open(&second);
        assert_eq!(&body[..], b"plain body", "the body is kept");
        assert!(headers.contains_key(RETRY_NONCE));
        let third = next_attempt(&second);
        assert_eq!(attempt_of(&third), 3);
        assert_ne!(
            next_attempt(&second),
            next_attempt(&second),
            "distinct retry members"
        );
    }

    #[test]
    fn an_envelope_keeps_its_headers_through_a_retry() {
        let headers = Headers::from([("traceparent".to_owned(), "00-x".to_owned())]);
        let wrapped = envelope::encode(&headers, b"job");
        let (after, body) = open(&next_attempt(&wrapped));
        assert_eq!(after["traceparent"], "00-x");
        assert_eq!(&body[..], b"job");
        let corrupt = Bytes::from_static(b"o11y-envelope/1\n{broken");
        assert_eq!(
            open(&corrupt).1,
            corrupt,
            "a corrupt envelope is kept whole"
        );
    }
}
