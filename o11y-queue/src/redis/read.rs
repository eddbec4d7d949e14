//! The receiving side: consumer groups, new entries, claimed entries.

use std::{collections::HashMap, sync::PoisonError};

use std::time::Duration;

use redis::Value;

use super::{RedisReceipt, RedisTransport, entry, err, millis};
use crate::{message::Delivery, transport::TransportError};

/// How often a transport looks for idle consumers to forget.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// KEYS[1] = stream; ARGV = group, idle ms, this consumer. Removes every
/// other consumer idle longer than that with no pending entry.
const FORGET: &str = r"
local gone = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[3] and f['pending'] == 0 and f['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    gone = gone + 1
  end
end
return gone";

impl RedisTransport {
    async fn ensure_group(&self, stream: &str) -> Result<(), TransportError> {
        if self
            .inner
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(stream)
        {
            return Ok(());
        }
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(&self.inner.options.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.inner.conn.clone())
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => return Err(err("receive", stream, e)),
            _ => {}
        }
        self.inner
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(stream.to_owned());
        Ok(())
    }

    /// Removes the group's consumers idle past `forget_idle_consumers` with
    /// nothing pending (checked and removed in one script, so an entry read
    /// meanwhile is never dropped with its consumer), at most once a minute.
    async fn forget_idle_consumers(&self, stream: &str) -> Result<(), TransportError> {
        if !self.inner.last_forget.due(stream, FORGET_EVERY) {
            return Ok(());
        }
        let o = &self.inner.options;
        redis::cmd("EVAL")
            .arg(FORGET)
            .arg(1)
            .arg(stream)
            .arg(&o.group)
            .arg(millis(o.forget_idle_consumers))
            .arg(&self.inner.consumer)
            .query_async::<i64>(&mut self.inner.conn.clone())
            .await
            .map(drop)
            .map_err(|e| err("receive", stream, e))
    }

    /// Whether it is time to look for abandoned or retried entries.
    fn claim_due(&self, stream: &str) -> bool {
        let every = self.inner.options.claim_check;
        self.inner.last_claim.due(stream, every)
    }

    /// Claims entries idle for at least the claim idle time.
    async fn claim(
        &self,
        stream: &str,
        max: usize,
    ) -> Result<Vec<Delivery<RedisReceipt>>, TransportError> {
        let o = &self.inner.options;
        let idle = millis(o.claim_idle);
        let mut conn = self.inner.conn.clone();
        let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(stream)
            .arg(&o.group)
            .arg("IDLE")
            .arg(idle)
            .arg("-")
            .arg("+")
            .arg(max)
            .query_async(&mut conn)
            .await
            .map_err(|e| err("receive", stream, e))?;
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let counts: HashMap<String, u64> =
            pending.into_iter().map(|(id, _, _, n)| (id, n)).collect();
        let claimed: Vec<Value> = redis::cmd("XCLAIM")
            .arg(stream)
            .arg(&o.group)
            .arg(&self.inner.consumer)
            .arg(idle)
            .arg(counts.keys().collect::<Vec<_>>())
            .query_async(&mut conn)
            .await
            .map_err(|e| err("receive", stream, e))?;
        Ok(entry::entries(claimed)
            .into_iter()
            .map(|(id, flat)| {
                let attempt = counts.get(&id).map_or(2, |n| n.saturating_add(1));
                delivery(id, flat, u32::try_from(attempt).unwrap_or(u32::MAX))
            })
            .collect())
    }

    /// Reads new entries, blocking up to the block time.
    async fn read_new(
        &self,
        stream: &str,
        max: usize,
    ) -> Result<Vec<Delivery<RedisReceipt>>, TransportError> {
        let o = &self.inner.options;
        let mut guard = self.inner.readers.get(stream).await?;
        let Some(conn) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let reply: Option<Vec<(String, Vec<Value>)>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&o.group)
            .arg(&self.inner.consumer)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(millis(o.block))
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async(conn)
            .await
            .map_err(|e| err("receive", stream, e))?;
        Ok(reply
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entry::entries(entries))
            .map(|(id, flat)| delivery(id, flat, 1))
            .collect())
    }

    pub(super) async fn receive_once(
        &self,
        stream: &str,
        max: usize,
    ) -> Result<Vec<Delivery<RedisReceipt>>, TransportError> {
        self.ensure_group(stream).await?;
        self.forget_idle_consumers(stream).await?;
        if self.claim_due(stream) {
            let claimed = self.claim(stream, max).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
        }
        self.read_new(stream, max).await
    }
}

fn delivery(id: String, flat: Vec<Vec<u8>>, attempt: u32) -> Delivery<RedisReceipt> {
    Delivery {
        message: entry::message(flat),
        enqueued_at: entry::enqueued_at(&id),
        id: Some(id.clone()),
        attempt,
        receipt: RedisReceipt(id),
    }
}
