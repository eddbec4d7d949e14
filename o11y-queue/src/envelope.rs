//! The versioned payload envelope, for brokers without metadata and for
//! [`Carriage::Envelope`](crate::Carriage::Envelope).
//!
//! Layout: the line `o11y-envelope/1`, one line holding the headers as a
//! compact JSON object of strings, then the payload bytes unchanged. A text
//! payload stays text.
//!
//! ```
//! use o11y_queue::envelope;
//! use std::collections::HashMap;
//!
//! let headers = HashMap::from([("traceparent".to_owned(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned())]);
//! let wrapped = envelope::encode(&headers, b"hello");
//! let (decoded, payload) = envelope::decode(&wrapped).unwrap().unwrap();
//! assert_eq!((decoded, &payload[..]), (headers, &b"hello"[..]));
//! assert!(envelope::decode(b"plain body").is_none()); // not an envelope
//! ```

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::message::Headers;

/// What every envelope starts with.
pub const MAGIC: &[u8] = b"o11y-envelope/";
/// The version this crate writes (and the only one it reads).
pub const VERSION: u32 = 1;

/// Why a payload that starts like an envelope could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The version line is missing or not a number.
    #[error("envelope version line is malformed")]
    Version,
    /// A version this crate does not read.
    #[error("envelope version {0} is not supported")]
    Unsupported(u32),
    /// The header line is missing or not a JSON object of strings.
    #[error("envelope headers are not a JSON object of strings")]
    Headers,
}

/// Wraps `payload` with `headers`.
pub fn encode(headers: &Headers, payload: &[u8]) -> Bytes {
    let map: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let json = Value::Object(map).to_string();
    let mut out = Vec::with_capacity(MAGIC.len() + 3 + json.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(VERSION.to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// `None` when `payload` is not an envelope; otherwise its headers and the
/// inner payload, or why it is corrupt.
pub fn decode(payload: &[u8]) -> Option<Result<(Headers, Bytes), EnvelopeError>> {
    let rest = payload.strip_prefix(MAGIC)?;
    Some(decode_body(rest).map(|(h, len)| {
        let inner = payload.get(payload.len() - len..).unwrap_or_default();
        (h, Bytes::copy_from_slice(inner))
    }))
}

/// Like [`decode`], sharing the inner payload with `payload` instead of copying.
pub fn decode_bytes(payload: &Bytes) -> Option<Result<(Headers, Bytes), EnvelopeError>> {
    let rest = payload.strip_prefix(MAGIC)?;
    Some(decode_body(rest).map(|(h, len)| (h, payload.slice(payload.len() - len..))))
}

/// The headers and the length of the inner payload (the tail of `rest`).
fn decode_body(rest: &[u8]) -> Result<(Headers, usize), EnvelopeError> {
    let (version, rest) = split_line(rest).ok_or(EnvelopeError::Version)?;
    let version: u32 = std::str::from_utf8(version)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(EnvelopeError::Version)?;
    if version != VERSION {
        return Err(EnvelopeError::Unsupported(version));
    }
    let (json, inner) = split_line(rest).ok_or(EnvelopeError::Headers)?;
    let headers = parse_headers(json).ok_or(EnvelopeError::Headers)?;
    Ok((headers, inner.len()))
}

fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == b'\n')?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

fn parse_headers(json: &[u8]) -> Option<Headers> {
    match serde_json::from_slice::<Value>(json).ok()? {
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                // Names as the producer wrote them: an application's
                // `X-Tenant` comes back as `X-Tenant` (context lookups
                // ignore case).
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_binary_payloads() {
        let headers = Headers::from([("a".to_owned(), "line\nbreak".to_owned())]);
        let payload = [0u8, 10, 255, 10];
        let wrapped = encode(&headers, &payload);
        let (h, p) = decode_bytes(&wrapped).unwrap().unwrap();
        assert_eq!(h, headers);
        assert_eq!(&p[..], &payload);
    }

    #[test]
    fn corrupt_envelopes_say_why() {
        assert_eq!(decode(b"o11y-envelope/"), Some(Err(EnvelopeError::Version)));
        assert_eq!(
            decode(b"o11y-envelope/x\n{}\n"),
            Some(Err(EnvelopeError::Version))
        );
        assert_eq!(
            decode(b"o11y-envelope/2\n{}\n"),
            Some(Err(EnvelopeError::Unsupported(2)))
        );
        assert_eq!(
            decode(b"o11y-envelope/1\n{\"a\":1}\n"),
            Some(Err(EnvelopeError::Headers))
        );
        assert_eq!(
            decode(b"o11y-envelope/1\n{not json"),
            Some(Err(EnvelopeError::Headers))
        );
        assert_eq!(
            decode(b"o11y-envelope/99999999999\n"),
            Some(Err(EnvelopeError::Version))
        );
    }

    #[test]
    fn header_names_keep_their_case() {
        let headers = Headers::from([
            ("X-Tenant".to_owned(), "acme".to_owned()),
            ("x-tenant".to_owned(), "other".to_owned()),
            ("Traceparent".to_owned(), "tp".to_owned()),
        ]);
        let (decoded, _) = decode(&encode(&headers, b"")).unwrap().unwrap();
        assert_eq!(decoded, headers);
    }

    #[test]
    fn empty_payload_and_headers() {
        let (h, p) = decode(&encode(&Headers::new(), b"")).unwrap().unwrap();
        assert!(h.is_empty() && p.is_empty());
    }
}
