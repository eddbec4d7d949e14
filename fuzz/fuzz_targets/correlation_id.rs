//! Correlation ids: never panics; an accepted id is 1 to 128 log-safe
//! characters, and parses again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o11y_core::{CORRELATION_ID_MAX_LEN, CorrelationId};

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = CorrelationId::from_bytes(data) {
        let s = id.as_str();
        assert!(!s.is_empty() && s.len() <= CORRELATION_ID_MAX_LEN);
        assert!(s.bytes().all(|c| c.is_ascii_graphic() && c != b'"' && c != b'\\'));
        assert_eq!(CorrelationId::parse(s).expect("an accepted id parses again"), id);
    }
});
