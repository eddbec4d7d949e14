//! `traceparent` parsing: never panics; what parses encodes back to a value
//! that parses to the same ids and known flags.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o11y_core::propagation::Traceparent;

fuzz_target!(|data: &[u8]| {
    if let Ok(tp) = Traceparent::parse_bytes(data) {
        let encoded = tp.encode();
        let again = Traceparent::parse(encoded.as_str()).expect("an encoded value parses");
        assert_eq!(again, tp);
        assert_eq!(encoded.as_str().len(), 55);
        assert!(tp.flags().to_u8() & !0x03 == 0, "only known flags are kept");
    }
});
