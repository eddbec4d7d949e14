//! [`AnyCase`]: string headers read by a propagator in any case.

use std::collections::HashMap;

use opentelemetry::propagation::Extractor;

/// Reads a `HashMap<String, String>` of headers (a message's, an event's) for
/// a propagator: the key as given (most producers write lowercase names),
/// then ignoring ASCII case. Unlike `HashMap`'s own `Extractor`, it finds
/// `Traceparent` and `TRACEPARENT` too, and makes no lowercased copy of
/// every key.
#[derive(Clone, Copy, Debug)]
pub struct AnyCase<'a>(pub &'a HashMap<String, String>);

impl Extractor for AnyCase<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = self.0.get(key).or_else(|| {
            let mut all = self.0.iter();
            all.find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        });
        value.map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_key_in_any_case_and_prefers_the_exact_one() {
        let headers: HashMap<String, String> = [
            ("Traceparent".to_owned(), "mixed".to_owned()),
            ("x-trace-id".to_owned(), "lower".to_owned()),
        ]
        .into();
        let carrier = AnyCase(&headers);
        assert_eq!(carrier.get("traceparent"), Some("mixed"));
        assert_eq!(carrier.get("X-TRACE-ID"), Some("lower"));
        assert_eq!(carrier.get("tracestate"), None);
        let both: HashMap<String, String> = [
            ("Baggage".to_owned(), "other".to_owned()),
            ("baggage".to_owned(), "exact".to_owned()),
        ]
        .into();
        assert_eq!(AnyCase(&both).get("baggage"), Some("exact"));
        let mut keys = carrier.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["Traceparent", "x-trace-id"]);
    }
}
