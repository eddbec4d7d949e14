//! The exporter's own crates: their `tracing` spans and events are made while
//! telemetry is exported, so exporting them would feed the exporter its own
//! work (each batch carrying the spans of sending the last one).

/// Crates whose spans and events are never exported: the OTLP exporter's
/// stack. Every crate whose name starts with `opentelemetry` is one too.
pub const EXPORTER_CRATES: &[&str] = &[
    "opentelemetry",
    "tonic",
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "reqwest",
];

/// Whether `target` (a `tracing` target: a module path, or a crate name
/// such as `opentelemetry-otlp`) belongs to one of [`EXPORTER_CRATES`], or
/// is the export queues' own warning (`o11y_core::export`, a full queue
/// dropping: exporting it would feed the queue that is full).
/// `opentelemetry_sdk::trace`, `hyper_util::client` and `h2` do; `h2o`,
/// `tower_http` (the service's own HTTP layer) and `my_app::tonic` do not.
pub fn is_exporter_target(target: &str) -> bool {
    let krate = target.split("::").next().unwrap_or(target);
    target == super::queue::DROP_WARNING_TARGET
        || krate.starts_with("opentelemetry")
        || EXPORTER_CRATES
            .iter()
            .any(|name| krate.len() == name.len() && krate.replace('-', "_") == *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_targets_are_recognised() {
        for own in [
            "opentelemetry",
            "opentelemetry_sdk::logs",
            "opentelemetry-otlp",
            "tonic::transport",
            "h2",
            "h2::proto::connection",
            "hyper_util::client",
            "hyper-util",
            "reqwest::connect",
            "tower::buffer",
            "o11y_core::export",
        ] {
            assert!(is_exporter_target(own), "{own}");
        }
        for app in [
            "h2o",
            "shop",
            "hyperion",
            "my_app::tonic",
            "towering",
            "tower_http::trace",
            "o11y",
            "o11y_core::init",
        ] {
            assert!(!is_exporter_target(app), "{app}");
        }
    }
}
