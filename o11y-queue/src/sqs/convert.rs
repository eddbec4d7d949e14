//! The AWS edge of SQS message attributes: the packing itself works on plain
//! strings in `crate::sqs_attributes`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::{
    Message as SqsMessage, MessageAttributeValue, MessageSystemAttributeName,
};

use crate::{message::Headers, sqs_attributes};

/// The message attributes for `headers` (`sqs_attributes::pack`): at most 5,
/// each a `String`.
pub(super) fn attributes(headers: &Headers) -> Vec<(&'static str, MessageAttributeValue)> {
    sqs_attributes::pack(headers)
        .into_iter()
        .filter_map(|(name, value)| {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .ok()?;
            Some((name, value))
        })
        .collect()
}

/// The headers of a received message (`sqs_attributes::unpack`).
pub(super) fn headers(message: &SqsMessage) -> Headers {
    let attrs = message.message_attributes();
    sqs_attributes::unpack(
        |name| attrs?.get(name)?.string_value(),
        system(message, MessageSystemAttributeName::AwsTraceHeader),
    )
}

pub(super) fn system(message: &SqsMessage, name: MessageSystemAttributeName) -> Option<&str> {
    message.attributes()?.get(&name).map(String::as_str)
}

/// 1 for the first receive (`ApproximateReceiveCount`).
pub(super) fn attempt(message: &SqsMessage) -> u32 {
    system(message, MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// `SentTimestamp` (milliseconds since the epoch).
pub(super) fn enqueued_at(message: &SqsMessage) -> Option<SystemTime> {
    let ms: u64 = system(message, MessageSystemAttributeName::SentTimestamp)?
        .parse()
        .ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_come_back_through_the_sdk_types() {
        let sent = Headers::from([
            ("traceparent".to_owned(), "tp".to_owned()),
            ("X-Tenant".to_owned(), "acme".to_owned()),
        ]);
        let mut message = SqsMessage::builder().attributes(
            MessageSystemAttributeName::AwsTraceHeader,
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
        );
        for (name, value) in attributes(&sent) {
            message = message.message_attributes(name, value);
        }
        assert_eq!(
            headers(&message.build()),
            sent,
            "the loose traceparent wins"
        );
        let xray_only = SqsMessage::builder()
            .attributes(
                MessageSystemAttributeName::AwsTraceHeader,
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .build();
        assert_eq!(
            headers(&xray_only)["traceparent"],
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
    }
}
