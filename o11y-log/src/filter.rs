//! The level filter: `LOG_LEVEL`, then `RUST_LOG`, then `info`.
//!
//! Both variables take `tracing-subscriber` [`Targets`] directives: a level
//! (`debug`, `WARN`; `warning` is accepted too), `target=level` pairs, or both
//! (`info,sqlx=warn`). `EnvFilter` span directives (`[request]=debug`,
//! `shop[checkout]=trace`) are ignored, and a value that does not parse is
//! skipped as a whole.
//!
//! ```
//! use o11y_log::filter_from_lookup;
//!
//! let filter = filter_from_lookup(|name| (name == "RUST_LOG").then(|| "warn,shop=debug".into()));
//! assert!(filter.would_enable("shop::cart", &tracing::Level::DEBUG));
//! assert!(!filter.would_enable("hyper", &tracing::Level::INFO));
//! ```

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Read first: a level or directives for the JSON log layer and the OTLP bridge.
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// Read when [`LOG_LEVEL`] is unset or invalid.
pub const RUST_LOG: &str = "RUST_LOG";

/// The filter from the process environment: [`LOG_LEVEL`], then [`RUST_LOG`]
/// (`tracing-subscriber` `Targets` directives such as `info,sqlx=warn`; span
/// directives are ignored), then `info`.
pub fn filter_from_env() -> Targets {
    filter_from_lookup(|name| std::env::var(name).ok())
}

/// The filter from `lookup` instead of the process environment.
pub fn filter_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Targets {
    [LOG_LEVEL, RUST_LOG]
        .into_iter()
        .find_map(|name| lookup(name).as_deref().and_then(parse))
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

fn parse(value: &str) -> Option<Targets> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.eq_ignore_ascii_case("warning") {
        return Some(Targets::new().with_default(LevelFilter::WARN));
    }
    let kept: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains(['[', '{']))
        .collect();
    if kept.is_empty() {
        return None;
    }
    kept.join(",").parse().ok()
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    fn from(log_level: Option<&str>, rust_log: Option<&str>) -> Targets {
        filter_from_lookup(|name| match name {
            LOG_LEVEL => log_level.map(Into::into),
            RUST_LOG => rust_log.map(Into::into),
            _ => None,
        })
    }

    #[test]
    fn log_level_wins_over_rust_log() {
        let f = from(Some("ERROR"), Some("trace"));
        assert!(f.would_enable("any", &Level::ERROR));
        assert!(!f.would_enable("any", &Level::WARN));
    }

    #[test]
    fn rust_log_directives_apply_when_log_level_is_unset_or_bad() {
        for log_level in [None, Some(""), Some("[span]=loud")] {
            let f = from(log_level, Some("warn,shop=debug"));
            assert!(f.would_enable("shop::cart", &Level::DEBUG));
            assert!(!f.would_enable("other", &Level::INFO));
        }
    }

    #[test]
    fn default_is_info() {
        let f = from(None, Some("[request]=debug"));
        assert!(f.would_enable("any", &Level::INFO));
        assert!(!f.would_enable("any", &Level::DEBUG));
        let f = from(None, Some("warn,shop[checkout]=trace"));
        assert!(f.would_enable("shop", &Level::WARN));
        assert!(!f.would_enable("shop", &Level::INFO));
        let f = from(Some("shop=loud"), None);
        assert!(f.would_enable("any", &Level::INFO));
        assert!(!f.would_enable("any", &Level::DEBUG));
        let f = from(Some("warning"), None);
        assert!(f.would_enable("any", &Level::WARN));
        assert!(!f.would_enable("any", &Level::INFO));
    }
}
