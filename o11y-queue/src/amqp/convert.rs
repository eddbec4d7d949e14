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

/// The text headers of a received message (other value types are skipped),
/// names lowercased.
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
                _ => return None,
            };
            Some((k.as_str().to_ascii_lowercase(), value))
        })
        .collect()
}

/// The attempt of a delivery: the attempt header (1 when absent), one more
/// when the broker redelivers it.
pub(super) fn attempt(headers: &Headers, redelivered: bool) -> u32 {
    let base = headers
        .get(ATTEMPT_HEADER)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    base.saturating_add(u32::from(redelivered))
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
        assert_eq!(attempt(&h, false), 2);
        assert_eq!(attempt(&h, true), 3);
        assert_eq!(attempt(&Headers::new(), false), 1);
        let bad = Headers::from([(ATTEMPT_HEADER.to_owned(), "zero".to_owned())]);
        assert_eq!(attempt(&bad, false), 1);
        assert!(enqueued_at(&props).is_some());
    }
}
