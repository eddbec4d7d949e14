//! `OTEL_*` configuration from hostile values: never panics, and an error
//! names a variable. Input lines are `selector value`, the selector picking
//! one of the variables the crate reads.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use o11y_core::config::{Config, env};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut vars: Vec<&'static str> = vec![
        env::SERVICE_NAME,
        env::RESOURCE_ATTRIBUTES,
        env::SDK_DISABLED,
        env::TRACES_EXPORTER,
        env::METRICS_EXPORTER,
        env::LOGS_EXPORTER,
        env::TRACES_SAMPLER,
        env::TRACES_SAMPLER_ARG,
        env::PROPAGATORS,
        env::OTLP_ENDPOINT,
        env::OTLP_PROTOCOL,
        env::OTLP_HEADERS,
        env::OTLP_TIMEOUT,
    ];
    vars.extend(env::OTLP_SIGNAL_VARS.iter().flatten());
    let mut set: HashMap<&str, String> = HashMap::new();
    for line in text.split('\n') {
        let Some(selector) = line.chars().next() else {
            continue;
        };
        let var = vars[selector as usize % vars.len()];
        set.insert(var, line[selector.len_utf8()..].to_owned());
    }
    if let Err(e) = Config::from_lookup(|name| set.get(name).cloned()) {
        let text = e.to_string();
        assert!(text.contains("OTEL_"), "the error names its variable: {text}");
    }
});
