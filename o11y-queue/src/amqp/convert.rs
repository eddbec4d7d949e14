//! AMQP properties and header tables to and from [`Message`]s.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable, LongString, ShortString},
};

use crate::message::{Headers, Message};

/// The header holding the attempt number of a retried message.
pub const ATTEMPT_HEADER: &str = "x-o11y-attempt";

/// Persistent delivery mode.
const PERSISTENT: u8 = 2;

/// The properties of a message: its headers as a table of long strings, a
/// fresh message id, the publish time, persistent delivery.
pub(super) fn properties(message: &Message, id: &str) -> BasicProperties {
    let mut table = FieldTable::default();
    for (k, v) in &message.headers {
        table.insert(
            ShortString::from(k.as_str()),
            AMQPValue::LongString(LongString::from(v.as_bytes())),
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    BasicProperties::default()
        .with_headers(table)
        .with_message_id(ShortString::from(id))
        .with_timestamp(now)
        .with_delivery_mode(PERSISTENT)
}

/// The text headers of a received message, names lowercased: long and short
/// strings, and byte arrays that hold UTF-8 (what clients such as Go's
/// amqp091 send for `[]byte` values); other value types are skipped.
pub(super) fn headers(props: &BasicProperties) -> Headers {
    let Some(table) = props.headers() else {
        return Headers::new();
    };
    table
        .inner()
        .iter()
        .filter_map(|(k, v)| {
            let value = match v {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.as_str().to_owned(),
                AMQPValue::ByteArray(b) => std::str::from_utf8(b.as_slice()).ok()?.to_owned(),
                _ => return None,
            };
            Some((k.as_str().to_ascii_lowercase(), value))
        })
        .collect()
}

/// The header a quorum queue sets on a redelivery: how many times this very
/// message was handed out before and came back (nack with requeue, or the
/// channel closed while it was unacked: a crashed consumer).
pub const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// The broker's `x-delivery-count` of a delivery, when it has one.
pub(super) fn delivery_count(props: &BasicProperties) -> Option<u32> {
    let value = props
        .headers()
        .as_ref()?
        .inner()
        .get(DELIVERY_COUNT_HEADER)?;
    let n = match value {
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        _ => return None,
    };
    Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

/// The attempt of a delivery: the attempt header (1 when absent, raised by
/// each retry's republish), plus the broker's count of earlier deliveries of
/// this copy: a quorum queue's `x-delivery-count`, every crash counted; a
/// classic queue only says `redelivered`, so crashes count once at most.
pub(super) fn attempt(headers: &Headers, delivery_count: Option<u32>, redelivered: bool) -> u32 {
    let base = headers
        .get(ATTEMPT_HEADER)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    base.saturating_add(delivery_count.unwrap_or(u32::from(redelivered)))
}

/// The publish time, to the second (AMQP timestamps are seconds).
pub(super) fn enqueued_at(props: &BasicProperties) -> Option<SystemTime> {
    props
        .timestamp()
        .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_attempts_count() {
        let m = Message::new("x")
            .with_header("traceparent", "tp")
            .with_header(ATTEMPT_HEADER, "2");
        let props = properties(&m, "id-1");
        let h = headers(&props);
        assert_eq!(h, m.headers);
        assert_eq!(attempt(&h, None, false), 2);
        assert_eq!(attempt(&h, None, true), 3);
        assert_eq!(attempt(&h, Some(4), true), 6, "every counted return");
        assert_eq!(attempt(&Headers::new(), None, false), 1);
        let bad = Headers::from([(ATTEMPT_HEADER.to_owned(), "zero".to_owned())]);
        assert_eq!(attempt(&bad, None, false), 1);
        assert_eq!(delivery_count(&props), None);
        let mut table = props.headers().clone().unwrap_or_default();
        table.insert(
            ShortString::from(DELIVERY_COUNT_HEADER),
            AMQPValue::LongLongInt(3),
        );
        assert_eq!(delivery_count(&props.clone().with_headers(table)), Some(3));
        assert!(enqueued_at(&props).is_some());
    }

    #[test]
    fn text_in_byte_arrays_is_read_and_binary_skipped() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut table = FieldTable::default();
        let bytes = AMQPValue::ByteArray(tp.as_bytes().into());
        table.insert(ShortString::from("Traceparent"), bytes);
        let binary = AMQPValue::ByteArray(vec![0xff, 0xfe].into());
        table.insert(ShortString::from("blob"), binary);
        let h = headers(&BasicProperties::default().with_headers(table));
        assert_eq!(
            h,
            Headers::from([("traceparent".to_owned(), tp.to_owned())])
        );
    }
}
