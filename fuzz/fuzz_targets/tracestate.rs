//! `tracestate` parsing over several header values (the input split at
//! newlines): never panics; a kept list is within the limits and parses
//! back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o11y_core::propagation::{TRACESTATE_MAX_LEN, TRACESTATE_MAX_MEMBERS, parse_tracestate};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(state) = parse_tracestate(text.split('\n')) {
        let header = state.header();
        assert!(header.len() <= TRACESTATE_MAX_LEN);
        assert!(header.split(',').count() <= TRACESTATE_MAX_MEMBERS);
        let again = parse_tracestate([header.as_str()]).expect("a kept list parses again");
        assert_eq!(again.header(), header);
    }
});
