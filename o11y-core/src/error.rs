//! Errors of this crate: each operation returns only the errors it can produce.

/// A setting (environment variable or code) has a value that cannot be used.
///
/// The message names the variable and the value, for example
/// `OTEL_TRACES_SAMPLER_ARG="2.5": the ratio must be between 0 and 1`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The variable (or builder setting) that held the value.
    pub var: &'static str,
    /// The value as it was given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(
        var: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            var,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// Why [`init`](crate::init) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An exporter could not be built (for example a malformed endpoint).
    #[error("building the {signal} exporter failed: {message}")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The exporter's own message.
        message: String,
    },
    /// Another global `tracing` subscriber is installed already. Use
    /// [`Builder::install_subscriber(false)`](crate::Builder::install_subscriber)
    /// and add a tracing-opentelemetry layer over
    /// [`Guard::tracer_provider`](crate::Guard::tracer_provider) to yours.
    #[error("a global tracing subscriber is already installed")]
    SubscriberAlreadySet,
    /// The background runtime for the gRPC exporter could not start.
    #[error("starting the exporter runtime failed: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Why shutting down did not complete cleanly.
#[derive(Debug, thiserror::Error)]
#[error("shutdown incomplete: {}", .failures.join("; "))]
#[non_exhaustive]
pub struct ShutdownError {
    /// One message per provider that failed or timed out.
    pub failures: Vec<String>,
}
