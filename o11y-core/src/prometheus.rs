//! Prometheus text exposition of the meter provider's metrics, for a
//! `/metrics` route.
//!
//! ```no_run
//! # fn main() -> Result<(), o11y_core::InitError> {
//! use o11y_core::config::ExporterKind;
//! let guard = o11y_core::builder("svc").metrics_exporter(ExporterKind::Prometheus).init()?;
//! let metrics = guard.prometheus().expect("metrics go to Prometheus");
//! let body: String = metrics.render(); // serve this with content type `PrometheusHandle::CONTENT_TYPE`
//! # Ok(()) }
//! ```

use opentelemetry_prometheus::PrometheusExporter;

/// Renders the current metrics in the Prometheus text format. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PrometheusHandle {
    registry: prometheus::Registry,
}

impl PrometheusHandle {
    /// The content type of [`render`](Self::render)'s output.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// The text exposition of every metric collected so far.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let families = self.registry.gather();
        // Encoding into a String cannot fail for well-formed families; an
        // error leaves what was written so far.
        let _ = prometheus::TextEncoder::new().encode_utf8(&families, &mut out);
        out
    }
}

pub(crate) fn reader() -> Result<(PrometheusExporter, PrometheusHandle), String> {
    let registry = prometheus::Registry::new();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .map_err(|e| e.to_string())?;
    Ok((exporter, PrometheusHandle { registry }))
}
