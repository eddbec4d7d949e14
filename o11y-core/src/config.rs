//! Settings from the standard `OTEL_*` environment variables, overridden by code.
//!
//! Every variable name is a public constant in [`env`](mod@env). A value that cannot be
//! used is an [`ConfigError`] naming the variable and the value; nothing panics.
//!
//! ```
//! use o11y_core::config::{Config, ExporterKind};
//!
//! let vars = [("OTEL_TRACES_EXPORTER", "none"), ("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.1")];
//! let config = Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())).unwrap();
//! assert_eq!(config.traces_exporter, ExporterKind::None);
//! ```

use std::{collections::BTreeMap, time::Duration};

use http::HeaderName;
use opentelemetry::KeyValue;

use crate::{
    correlation::X_TRACE_ID, error::ConfigError, propagation::Propagator, sampler::SamplerConfig,
};

/// Names of the environment variables this crate reads.
pub mod env {
    /// `service.name`.
    pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
    /// `key=value,...` resource attributes (percent-encoded values).
    pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
    /// `true` turns every signal into a no-op.
    pub const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
    /// `otlp`, `console` or `none`.
    pub const TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
    /// `otlp`, `prometheus`, `console` or `none`.
    pub const METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
    /// `otlp`, `console` or `none`.
    pub const LOGS_EXPORTER: &str = "OTEL_LOGS_EXPORTER";
    /// Sampler name.
    pub const TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
    /// Sampler argument.
    pub const TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
    /// `tracecontext`, `baggage`, `none`, comma separated.
    pub const PROPAGATORS: &str = "OTEL_PROPAGATORS";
    /// Base OTLP endpoint.
    pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// `grpc` or `http/protobuf`.
    pub const OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
    /// `key=value,...` headers sent with every export.
    pub const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
    /// Export timeout in milliseconds.
    pub const OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
    /// How many spans may wait for export (default 2 048).
    pub const BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
    /// How many log records may wait for export (default 2 048).
    pub const BLRP_MAX_QUEUE_SIZE: &str = "OTEL_BLRP_MAX_QUEUE_SIZE";
    /// How many bytes of spans may wait for export (default 16 MiB).
    pub const BSP_MAX_QUEUE_BYTES: &str = "O11Y_BSP_MAX_QUEUE_BYTES";
    /// How many bytes of log records may wait for export (default 16 MiB).
    pub const BLRP_MAX_QUEUE_BYTES: &str = "O11Y_BLRP_MAX_QUEUE_BYTES";
    /// Per-signal forms: `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_{ENDPOINT,PROTOCOL,HEADERS,TIMEOUT}`.
    pub const OTLP_SIGNAL_VARS: [[&str; 4]; 3] = [
        [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        ],
        [
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        ],
        [
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        ],
    ];
}

/// Where a signal goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExporterKind {
    /// OTLP (feature `otlp`, `otlp-grpc` or `otlp-http`).
    Otlp,
    /// Standard output (feature `stdout`).
    Console,
    /// Prometheus text exposition, metrics only (feature `prometheus`).
    Prometheus,
    /// Nowhere (processors added in code still run).
    None,
}

/// OTLP wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (default port 4317).
    Grpc,
    /// HTTP with binary protobuf (default port 4318).
    HttpProtobuf,
}

/// One signal's OTLP settings, after per-signal variables were applied.
///
/// Its `Debug` text masks the header values and the endpoint's user
/// information and query with `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct OtlpSettings {
    /// Full endpoint URL for this signal (for HTTP, including `/v1/<signal>`).
    pub endpoint: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Extra headers (for example an API key).
    pub headers: BTreeMap<String, String>,
    /// Export timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for OtlpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: BTreeMap<&str, &str> =
            self.headers.keys().map(|k| (k.as_str(), "***")).collect();
        f.debug_struct("OtlpSettings")
            .field("endpoint", &crate::error::mask_url(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// How much of one signal may wait for export: past either bound, a new
/// span or log record is dropped and counted (see [`crate::TELEMETRY_DROPPED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Items waiting or being exported (`OTEL_BSP_MAX_QUEUE_SIZE`,
    /// `OTEL_BLRP_MAX_QUEUE_SIZE`; default 2 048).
    pub max_items: usize,
    /// Their estimated size in bytes (`O11Y_BSP_MAX_QUEUE_BYTES`,
    /// `O11Y_BLRP_MAX_QUEUE_BYTES`; default [`QueueLimits::DEFAULT_MAX_BYTES`]).
    pub max_bytes: usize,
}

impl QueueLimits {
    /// The SDK's default count bound.
    pub const DEFAULT_MAX_ITEMS: usize = 2_048;
    /// 16 MiB: room for the default 2 048 items at 8 KiB each, so the byte
    /// bound only bites when items are large.
    pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_items: Self::DEFAULT_MAX_ITEMS,
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }
}

/// Everything [`init`](crate::init) needs, resolved from the environment.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// `service.name`, if set.
    pub service_name: Option<String>,
    /// Attributes from `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource_attributes: Vec<KeyValue>,
    /// `OTEL_SDK_DISABLED=true`.
    pub disabled: bool,
    /// Traces destination.
    pub traces_exporter: ExporterKind,
    /// Metrics destination.
    pub metrics_exporter: ExporterKind,
    /// Logs destination.
    pub logs_exporter: ExporterKind,
    /// Sampler.
    pub sampler: SamplerConfig,
    /// What is propagated.
    pub propagator: Propagator,
    /// OTLP settings for traces, metrics and logs.
    pub otlp: [OtlpSettings; 3],
    /// Bounds of the span export queue.
    pub span_queue: QueueLimits,
    /// Bounds of the log export queue.
    pub log_queue: QueueLimits,
}

const SIGNALS: [&str; 3] = ["traces", "metrics", "logs"];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (for tests and embedding).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let default_exporter = if cfg!(any(feature = "otlp-grpc", feature = "otlp-http")) {
            ExporterKind::Otlp
        } else {
            ExporterKind::None
        };
        let exporter = |var: &'static str, allowed: &[(&str, ExporterKind)]| match get(var) {
            None => Ok(default_exporter),
            Some(v) => parse_exporter(var, &v, allowed),
        };
        let common = [
            ("otlp", ExporterKind::Otlp),
            ("console", ExporterKind::Console),
            ("logging", ExporterKind::Console),
            ("none", ExporterKind::None),
        ];
        let mut metrics_allowed = common.to_vec();
        metrics_allowed.push(("prometheus", ExporterKind::Prometheus));
        let sampler = match get(env::TRACES_SAMPLER) {
            Some(name) => {
                SamplerConfig::from_env_values(&name, get(env::TRACES_SAMPLER_ARG).as_deref())?
            }
            None => SamplerConfig::default(),
        };
        let otlp = [0, 1, 2].map(|i| otlp_settings(&get, i));
        let [t, m, l] = otlp;
        Ok(Self {
            service_name: get(env::SERVICE_NAME).map(|s| s.trim().to_owned()),
            resource_attributes: match get(env::RESOURCE_ATTRIBUTES) {
                Some(v) => parse_key_values(env::RESOURCE_ATTRIBUTES, &v)?
                    .into_iter()
                    .map(|(k, v)| KeyValue::new(k, v))
                    .collect(),
                None => Vec::new(),
            },
            disabled: match get(env::SDK_DISABLED) {
                Some(v) => parse_bool(env::SDK_DISABLED, &v)?,
                None => false,
            },
            traces_exporter: exporter(env::TRACES_EXPORTER, &common)?,
            metrics_exporter: exporter(env::METRICS_EXPORTER, &metrics_allowed)?,
            logs_exporter: exporter(env::LOGS_EXPORTER, &common)?,
            sampler,
            propagator: match get(env::PROPAGATORS) {
                Some(v) => parse_propagators(&v)?,
                None => Propagator::default(),
            },
            otlp: [t?, m?, l?],
            span_queue: queue_limits(&get, env::BSP_MAX_QUEUE_SIZE, env::BSP_MAX_QUEUE_BYTES)?,
            log_queue: queue_limits(&get, env::BLRP_MAX_QUEUE_SIZE, env::BLRP_MAX_QUEUE_BYTES)?,
        })
    }
}

fn queue_limits(
    get: &impl Fn(&str) -> Option<String>,
    items_var: &'static str,
    bytes_var: &'static str,
) -> Result<QueueLimits, ConfigError> {
    let number = |var: &'static str, default: usize| match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ConfigError::new(var, &v, "expected a whole number")),
    };
    Ok(QueueLimits {
        max_items: number(items_var, QueueLimits::DEFAULT_MAX_ITEMS)?,
        max_bytes: number(bytes_var, QueueLimits::DEFAULT_MAX_BYTES)?,
    })
}

fn parse_exporter(
    var: &'static str,
    value: &str,
    allowed: &[(&str, ExporterKind)],
) -> Result<ExporterKind, ConfigError> {
    let v = value.trim().to_ascii_lowercase();
    let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
    let kind = allowed
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            ConfigError::new(var, value, format!("expected one of {}", names.join(", ")))
        })?;
    let built = match kind {
        ExporterKind::Otlp => cfg!(any(feature = "otlp-grpc", feature = "otlp-http")),
        ExporterKind::Console => cfg!(feature = "stdout"),
        ExporterKind::Prometheus => cfg!(feature = "prometheus"),
        ExporterKind::None => true,
    };
    if !built {
        return Err(ConfigError::new(
            var,
            value,
            "this exporter needs the matching cargo feature of o11y (otlp, stdout or prometheus)",
        ));
    }
    Ok(kind)
}

fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(var, value, "expected true or false")),
    }
}

fn parse_propagators(value: &str) -> Result<Propagator, ConfigError> {
    let (mut trace_context, mut baggage) = (false, false);
    for name in value.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        match name.as_str() {
            "tracecontext" => trace_context = true,
            "baggage" => baggage = true,
            "none" | "" => {}
            _ => {
                return Err(ConfigError::new(
                    env::PROPAGATORS,
                    value,
                    format!("{name:?} is not supported; use tracecontext, baggage or none"),
                ));
            }
        }
    }
    Ok(Propagator::builder()
        .trace_context(trace_context)
        .baggage(baggage)
        .correlation_header(Some(HeaderName::from_static(X_TRACE_ID)))
        .build())
}

/// Parses `key=value,key2=value2` with percent-encoded values (resource attributes, OTLP headers).
pub fn parse_key_values(
    var: &'static str,
    value: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    // Items are named by number: the text of one may be a secret.
    let items = value.split(',').map(str::trim).enumerate();
    for (i, pair) in items.filter(|(_, p)| !p.is_empty()) {
        let item = i + 1;
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| ConfigError::new(var, value, format!("item {item} is not key=value")))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(ConfigError::new(
                var,
                value,
                format!("item {item} has an empty key"),
            ));
        }
        let v = percent_decode(v.trim()).ok_or_else(|| {
            ConfigError::new(
                var,
                value,
                format!("the value of {k:?} has a bad percent-encoding"),
            )
        })?;
        out.push((k.to_owned(), v));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn otlp_settings(
    get: &impl Fn(&str) -> Option<String>,
    signal: usize,
) -> Result<OtlpSettings, ConfigError> {
    let [endpoint_var, protocol_var, headers_var, timeout_var] = env::OTLP_SIGNAL_VARS
        .get(signal)
        .copied()
        .unwrap_or(env::OTLP_SIGNAL_VARS[0]);
    let pick = |specific: &'static str, general: &'static str| {
        get(specific)
            .map(|v| (specific, v))
            .or_else(|| get(general).map(|v| (general, v)))
    };
    let protocol = match pick(protocol_var, env::OTLP_PROTOCOL) {
        None => Protocol::Grpc,
        Some((var, v)) => match v.trim() {
            "grpc" => Protocol::Grpc,
            "http/protobuf" => Protocol::HttpProtobuf,
            _ => return Err(ConfigError::new(var, v, "expected grpc or http/protobuf")),
        },
    };
    let path = SIGNALS.get(signal).copied().unwrap_or("traces");
    let endpoint = match (get(endpoint_var), get(env::OTLP_ENDPOINT)) {
        (Some(v), _) => check_url(endpoint_var, v)?,
        (None, Some(base)) => {
            let base = check_url(env::OTLP_ENDPOINT, base)?;
            match protocol {
                Protocol::Grpc => base,
                Protocol::HttpProtobuf => format!("{}/v1/{path}", base.trim_end_matches('/')),
            }
        }
        (None, None) => match protocol {
            Protocol::Grpc => "http://localhost:4317".to_owned(),
            Protocol::HttpProtobuf => format!("http://localhost:4318/v1/{path}"),
        },
    };
    let headers = match pick(headers_var, env::OTLP_HEADERS) {
        Some((var, v)) => parse_key_values(var, &v)?.into_iter().collect(),
        None => BTreeMap::new(),
    };
    let timeout =
        match pick(timeout_var, env::OTLP_TIMEOUT) {
            Some((var, v)) => Duration::from_millis(v.trim().parse::<u64>().map_err(|_| {
                ConfigError::new(var, &v, "expected a whole number of milliseconds")
            })?),
            None => Duration::from_secs(10),
        };
    Ok(OtlpSettings {
        endpoint,
        protocol,
        headers,
        timeout,
    })
}

/// An `http://` or `https://` URL with a valid host and, if any, a port
/// from 1 to 65535: `http://c:43l7` fails here, not at the first export.
fn check_url(var: &'static str, value: String) -> Result<String, ConfigError> {
    let v = value.trim();
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"));
    let problem = match rest {
        _ if v.contains(char::is_whitespace) => Some("a URL has no spaces".to_owned()),
        None => Some("expected an http:// or https:// URL with a host".to_owned()),
        Some(rest) => check_authority(rest),
    };
    match problem {
        None => Ok(v.to_owned()),
        Some(reason) => Err(ConfigError::new(var, value, reason)),
    }
}

/// What is wrong with the `[user@]host[:port]` that starts `rest`, if anything.
fn check_authority(rest: &str) -> Option<String> {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port, ipv6) = match host_port.strip_prefix('[') {
        Some(inner) => match inner.split_once(']') {
            Some((host, after)) if after.is_empty() || after.starts_with(':') => {
                (host, after.strip_prefix(':'), true)
            }
            _ => return Some("an IPv6 host is written [address]:port".to_owned()),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port), false),
            None => (host_port, None, false),
        },
    };
    let host_ok = if ipv6 {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    if !host_ok {
        return Some(format!("{host:?} is not a host name or address"));
    }
    match port {
        Some(p) if !matches!(p.parse::<u16>(), Ok(1..)) => {
            Some(format!("port {p:?} is not a number from 1 to 65535"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.service_name, None);
        assert!(!c.disabled);
        assert_eq!(c.sampler, SamplerConfig::default());
        assert_eq!(c.otlp[0].endpoint, "http://localhost:4317");
        assert_eq!(c.otlp[0].timeout, Duration::from_secs(10));
    }

    #[test]
    fn queue_limits_default_to_2048_items_and_16_mib_and_read_their_variables() {
        let c = config(&[]).unwrap();
        assert_eq!(c.span_queue, QueueLimits::default());
        assert_eq!(c.log_queue.max_bytes, 16 * 1024 * 1024);
        let c = config(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
            ("O11Y_BSP_MAX_QUEUE_BYTES", " 4096 "),
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "20"),
            ("O11Y_BLRP_MAX_QUEUE_BYTES", "8192"),
        ])
        .unwrap();
        assert_eq!((c.span_queue.max_items, c.span_queue.max_bytes), (10, 4096));
        assert_eq!((c.log_queue.max_items, c.log_queue.max_bytes), (20, 8192));
        let e = config(&[("O11Y_BLRP_MAX_QUEUE_BYTES", "16MiB")]).unwrap_err();
        assert_eq!(e.var, "O11Y_BLRP_MAX_QUEUE_BYTES");
        assert!(config(&[("OTEL_BSP_MAX_QUEUE_SIZE", "-1")]).is_err());
    }

    #[test]
    fn reads_the_standard_variables() {
        let c = config(&[
            ("OTEL_SERVICE_NAME", "orders"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,team=a%20b",
            ),
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ("OTEL_PROPAGATORS", "tracecontext"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://logs:9999/custom",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2500"),
        ])
        .unwrap();
        assert_eq!(c.service_name.as_deref(), Some("orders"));
        assert_eq!(
            c.resource_attributes,
            vec![
                KeyValue::new("deployment.environment", "prod"),
                KeyValue::new("team", "a b")
            ]
        );
        assert!(c.disabled);
        assert_eq!(c.traces_exporter, ExporterKind::None);
        assert_eq!(
            c.sampler,
            SamplerConfig::ParentBased(Box::new(SamplerConfig::TraceIdRatio(0.5)))
        );
        assert_eq!(
            opentelemetry::propagation::TextMapPropagator::fields(&c.propagator).count(),
            3,
            "traceparent, tracestate, x-trace-id"
        );
        assert_eq!(c.otlp[0].endpoint, "http://collector:4318/v1/traces");
        assert_eq!(c.otlp[1].endpoint, "http://collector:4318/v1/metrics");
        assert_eq!(c.otlp[2].endpoint, "http://logs:9999/custom");
        assert_eq!(
            c.otlp[0].headers.get("api-key").map(String::as_str),
            Some("s=cret")
        );
        assert_eq!(c.otlp[1].timeout, Duration::from_millis(2500));
        assert_eq!(c.otlp[0].timeout, Duration::from_secs(10));
    }

    #[test]
    fn bad_values_name_variable_and_value() {
        let cases = [
            ("OTEL_SDK_DISABLED", "yes"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
            ("OTEL_METRICS_EXPORTER", "statsd"),
            ("OTEL_LOGS_EXPORTER", "prometheus"),
            ("OTEL_TRACES_SAMPLER", "maybe"),
            ("OTEL_PROPAGATORS", "b3"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:43l7"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:70000"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c d:4317"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1:4317"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "https://ex ample.com",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_RESOURCE_ATTRIBUTES", "=x"),
        ];
        for (var, value) in cases {
            let err = config(&[(var, value)]).expect_err(var);
            assert_eq!(err.var, var);
            assert_eq!(err.value, value);
            assert!(err.to_string().starts_with(&format!("{var}=")), "{err}");
        }
    }

    #[test]
    fn good_endpoints_pass() {
        for url in [
            "http://collector:4317",
            "https://otel.example.com/",
            "http://user:pw@10.0.0.1:4318/prefix?x=1",
            "http://[::1]:4317",
            "http://[2001:db8::1]",
            "http://my_host.local",
        ] {
            let c = config(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)]).expect(url);
            assert_eq!(c.otlp[0].endpoint, url);
        }
    }

    #[test]
    fn the_port_error_names_the_variable() {
        let err = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:43l7")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_ENDPOINT=\"http://c:43l7\": port \"43l7\" is not a number from 1 to 65535"
        );
    }

    #[test]
    fn header_errors_and_debug_never_show_a_secret() {
        for headers in [
            "authorization=Bearer SECRET123,oops",
            "oops,authorization=Bearer SECRET123",
            "authorization=Bearer SECRET123%zz",
            "=SECRET123",
            "SECRET123",
        ] {
            let err = config(&[("OTEL_EXPORTER_OTLP_HEADERS", headers)]).expect_err(headers);
            assert_eq!(err.var, "OTEL_EXPORTER_OTLP_HEADERS");
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains("SECRET123"), "{shown}");
        }
        let err = config(&[(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "authorization=Bearer SECRET123,oops",
        )])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS=\"authorization=***,***\": item 2 is not key=value"
        );
        let c = config(&[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer SECRET123",
            ),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://user:PASSWORD@collector:4318/?token=TOKEN",
            ),
        ])
        .unwrap();
        assert_eq!(c.otlp[1].headers["authorization"], "Bearer SECRET123");
        let shown = format!("{c:?}");
        for secret in ["SECRET123", "PASSWORD", "TOKEN"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("authorization"), "{shown}");
    }

    #[test]
    fn sampler_arg_error_names_the_arg() {
        let err = config(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "x"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "OTEL_TRACES_SAMPLER_ARG");
    }
}
