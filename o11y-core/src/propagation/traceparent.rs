//! The `traceparent` header: strict parsing and allocation-free formatting.
//!
//! ```
//! use o11y_core::propagation::Traceparent;
//!
//! let tp = Traceparent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
//! assert!(tp.flags().is_sampled());
//! assert_eq!(tp.encode().as_str(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
//! ```

use crate::hex;
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};

/// Length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;

/// The trace-flags bits this crate understands: `sampled` (0x01) and `random` (0x02, Level 2).
const KNOWN_FLAGS: u8 = 0x03;

/// A parsed W3C `traceparent` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traceparent {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
}

/// Why a `traceparent` value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceparentError {
    /// Not 55 characters (version 00) or shorter than 55 (later versions).
    #[error("traceparent has the wrong length")]
    Length,
    /// A field is not lowercase hex, or a separator is not `-`.
    #[error("traceparent has a character outside lowercase hex or a misplaced separator")]
    Syntax,
    /// Version `ff` is forbidden.
    #[error("traceparent version ff is invalid")]
    Version,
    /// The trace id or the parent id is all zeros.
    #[error("traceparent has an all-zero trace id or parent id")]
    ZeroId,
}

impl Traceparent {
    /// Builds a value from its parts (flags other than sampled and random are dropped).
    pub fn new(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> Self {
        let flags = TraceFlags::new(flags.to_u8() & KNOWN_FLAGS);
        Self {
            trace_id,
            span_id,
            flags,
        }
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The parent (span) id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags: `sampled` and the Level 2 `random` bit.
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// Parses a value per W3C Trace Context Level 2.
    ///
    /// Surrounding spaces and tabs are ignored. Version `00` must be exactly 55
    /// characters; a later version may carry more fields after a `-`, which are
    /// ignored; version `ff`, uppercase hex and all-zero ids are rejected.
    pub fn parse(value: &str) -> Result<Self, TraceparentError> {
        Self::parse_bytes(value.as_bytes())
    }

    /// [`parse`](Self::parse) for raw header bytes.
    pub fn parse_bytes(value: &[u8]) -> Result<Self, TraceparentError> {
        let b = trim_ows(value);
        if b.len() < TRACEPARENT_LEN {
            return Err(TraceparentError::Length);
        }
        let version = hex_u8(b, 0).ok_or(TraceparentError::Syntax)?;
        if version == 0xff {
            return Err(TraceparentError::Version);
        }
        let extra = b.len() > TRACEPARENT_LEN;
        if extra && (version == 0 || b.get(TRACEPARENT_LEN) != Some(&b'-')) {
            return Err(TraceparentError::Length);
        }
        if b.get(2) != Some(&b'-') || b.get(35) != Some(&b'-') || b.get(52) != Some(&b'-') {
            return Err(TraceparentError::Syntax);
        }
        let trace_id = hex_u128(b, 3).ok_or(TraceparentError::Syntax)?;
        let span_id = hex_u64(b, 36).ok_or(TraceparentError::Syntax)?;
        let flags = hex_u8(b, 53).ok_or(TraceparentError::Syntax)?;
        if trace_id == 0 || span_id == 0 {
            return Err(TraceparentError::ZeroId);
        }
        Ok(Self::new(
            TraceId::from(trace_id),
            SpanId::from(span_id),
            TraceFlags::new(flags),
        ))
    }

    /// Formats the value as version `00`, without allocating.
    #[allow(clippy::indexing_slicing)] // constant offsets into a fixed 55-byte array
    pub fn encode(&self) -> EncodedTraceparent {
        let mut out = [0u8; TRACEPARENT_LEN];
        out[..3].copy_from_slice(b"00-");
        out[3..35].copy_from_slice(&hex::encode_u128(u128::from_be_bytes(
            self.trace_id.to_bytes(),
        )));
        out[35] = b'-';
        out[36..52].copy_from_slice(&hex::encode_u64(u64::from_be_bytes(
            self.span_id.to_bytes(),
        )));
        out[52] = b'-';
        out[53..55].copy_from_slice(&hex::encode_u64(u64::from(self.flags.to_u8()))[14..]);
        EncodedTraceparent(out)
    }
}

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// A formatted `traceparent` value living on the stack.
#[derive(Clone, Copy)]
pub struct EncodedTraceparent([u8; TRACEPARENT_LEN]);

impl EncodedTraceparent {
    /// The value as bytes (always ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits and '-' are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for EncodedTraceparent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex_u8(b: &[u8], at: usize) -> Option<u8> {
    let [hi, lo] = *b.get(at..at.checked_add(2)?)? else {
        return None;
    };
    // Two digits, after fourteen zeros.
    let mut digits = [b'0'; 16];
    let [.., h, l] = &mut digits;
    (*h, *l) = (hi, lo);
    hex::decode_u64(&digits).and_then(|v| u8::try_from(v).ok())
}

fn hex_u64(b: &[u8], at: usize) -> Option<u64> {
    let digits: &[u8; 16] = b.get(at..at.checked_add(16)?)?.try_into().ok()?;
    hex::decode_u64(digits)
}

fn hex_u128(b: &[u8], at: usize) -> Option<u128> {
    let hi = hex_u64(b, at)?;
    let lo = hex_u64(b, at.checked_add(16)?)?;
    Some(u128::from(hi) << 64 | u128::from(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "12345678901234567890123456789012";
    const SID: &str = "1234567890123456";

    fn ok(s: &str) -> Traceparent {
        Traceparent::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn bad(s: &str) -> TraceparentError {
        Traceparent::parse(s).expect_err(s)
    }

    #[test]
    fn version_00_is_exactly_55_characters() {
        let tp = ok(&format!("00-{TID}-{SID}-01"));
        assert_eq!(tp.trace_id(), TraceId::from_hex(TID).unwrap());
        assert_eq!(tp.span_id(), SpanId::from_hex(SID).unwrap());
        assert!(tp.flags().is_sampled());
        assert_eq!(
            bad(&format!("00-{TID}-{SID}-01.")),
            TraceparentError::Length
        );
        assert_eq!(
            bad(&format!("00-{TID}-{SID}-01-what-the-future-will-be-like")),
            TraceparentError::Length
        );
    }

    #[test]
    fn future_versions_parse_the_known_fields() {
        assert_eq!(
            ok(&format!("cc-{TID}-{SID}-01")).trace_id(),
            TraceId::from_hex(TID).unwrap()
        );
        ok(&format!("cc-{TID}-{SID}-01-what-the-future-will-be-like"));
        bad(&format!("cc-{TID}-{SID}-01.what-the-future-will-be-like"));
    }

    #[test]
    fn version_ff_and_bad_versions_are_rejected() {
        assert_eq!(
            bad(&format!("ff-{TID}-{SID}-01")),
            TraceparentError::Version
        );
        for v in [".0", "0.", "000", "0000", "0", "0A", "Cc"] {
            bad(&format!("{v}-{TID}-{SID}-01"));
        }
    }

    #[test]
    fn zero_ids_are_rejected() {
        assert_eq!(
            bad(&format!("00-{}-{SID}-01", "0".repeat(32))),
            TraceparentError::ZeroId
        );
        assert_eq!(
            bad(&format!("00-{TID}-{}-01", "0".repeat(16))),
            TraceparentError::ZeroId
        );
    }

    #[test]
    fn wrong_lengths_and_characters_are_rejected() {
        let cases = [
            format!("00-.{}-{SID}-01", &TID[1..]),
            format!("00-{}.-{SID}-01", &TID[1..]),
            format!("00-{TID}3-{SID}-01"),
            format!("00-{}-{SID}-01", &TID[1..]),
            format!("00-{TID}-.{}-01", &SID[1..]),
            format!("00-{TID}-{}.-01", &SID[1..]),
            format!("00-{TID}-{SID}7-01"),
            format!("00-{TID}-{}-01", &SID[1..]),
            format!("00-{TID}-{SID}-.0"),
            format!("00-{TID}-{SID}-0."),
            format!("00-{TID}-{SID}-001"),
            format!("00-{TID}-{SID}-1"),
            format!("00-{}-{SID}-01", TID.to_uppercase().replace('1', "A")),
            format!("00-{TID}-{SID}-0A"),
            format!("00_{TID}_{SID}_01"),
            String::new(),
        ];
        for case in cases {
            bad(&case);
        }
    }

    #[test]
    fn surrounding_spaces_and_tabs_are_ignored() {
        for pad in [" ", "\t", "\t ", " \t"] {
            ok(&format!("{pad}00-{TID}-{SID}-01"));
            ok(&format!("00-{TID}-{SID}-01{pad}"));
        }
    }

    #[test]
    fn random_flag_is_carried_and_unknown_flags_dropped() {
        let tp = ok(&format!("00-{TID}-{SID}-03"));
        assert_eq!(tp.flags().to_u8(), 0x03);
        assert_eq!(ok(&format!("00-{TID}-{SID}-ff")).flags().to_u8(), 0x03);
        assert_eq!(
            ok(&format!("00-{TID}-{SID}-02")).encode().as_str(),
            format!("00-{TID}-{SID}-02")
        );
    }

    #[test]
    fn encode_is_lowercase_version_00() {
        let tp = ok(&format!("cc-{TID}-{SID}-01-future"));
        assert_eq!(tp.encode().as_str(), format!("00-{TID}-{SID}-01"));
        assert_eq!(format!("{:?}", tp.encode()), format!("00-{TID}-{SID}-01"));
    }
}
