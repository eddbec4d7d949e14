//! The services' JSON log lines, kept in memory so that each scenario can
//! check that every line of its trace carries the trace and correlation ids.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use o11y::opentelemetry::trace::TraceId;
use serde_json::Value;
use tracing_subscriber::{Layer, filter::Targets, layer::SubscriberExt};

/// The captured lines.
#[derive(Clone, Debug, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The lines of this process; the subscriber is installed on first use.
    pub fn install() -> &'static Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            let layer = o11y::log::JsonLayer::new()
                .with_service("showcase")
                .with_writer(move || writer.clone())
                .with_filter(
                    Targets::new()
                        .with_target("patterns", tracing::Level::INFO)
                        .with_target("shop", tracing::Level::INFO)
                        .with_target("opentelemetry_sdk", tracing::Level::WARN),
                );
            let _ =
                tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
            logs
        })
    }

    /// Every line, parsed; `Err` names a line that is not one JSON object.
    pub fn parsed(&self) -> Result<Vec<Value>, String> {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| match serde_json::from_str::<Value>(line) {
                Ok(v) if v.is_object() => Ok(v),
                _ => Err(format!("a log line is not one JSON object: {line:?}")),
            })
            .collect()
    }

    /// The lines of `trace`.
    pub fn of_trace(&self, trace: TraceId) -> Result<Vec<Value>, String> {
        let id = trace.to_string();
        Ok(self
            .parsed()?
            .into_iter()
            .filter(|v| v["trace_id"] == id.as_str())
            .collect())
    }
}
