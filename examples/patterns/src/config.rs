//! Settings from the environment, and where each service's telemetry goes.

use std::{net::SocketAddr, time::Duration};

use o11y::{
    http::{ClientMiddleware, ServerLayer},
    opentelemetry_sdk::trace::SdkTracerProvider,
};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};

/// The port to listen on (each binary has its own default).
pub const PORT: &str = "PORT";
/// The address to listen on (default `127.0.0.1`; `0.0.0.0` in a container).
pub const HOST: &str = "HOST";
/// Base URL of service A (default `http://127.0.0.1:8081`).
pub const SERVICE_A_URL: &str = "SERVICE_A_URL";
/// Base URL of service B (default `http://127.0.0.1:8082`).
pub const SERVICE_B_URL: &str = "SERVICE_B_URL";
/// Base URL of service C (default `http://127.0.0.1:8083`).
pub const SERVICE_C_URL: &str = "SERVICE_C_URL";
/// How long one outbound call may take, in milliseconds (default 1000).
pub const CALL_TIMEOUT_MS: &str = "CALL_TIMEOUT_MS";
/// The queue service C processes (default `jobs`).
pub const JOBS_QUEUE: &str = "JOBS_QUEUE";

/// A setting that cannot be used; names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?}: {reason}")]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    reason: &'static str,
}

/// What a service needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Base URL of service A.
    pub service_a: String,
    /// Base URL of service B.
    pub service_b: String,
    /// Base URL of service C.
    pub service_c: String,
    /// How long one outbound call may take.
    pub call_timeout: Duration,
    /// The queue service C processes.
    pub jobs_queue: String,
    /// Where spans go.
    pub telemetry: Telemetry,
}

impl Config {
    /// Reads [`PORT`] (default `default_port`), [`HOST`], the peer URLs,
    /// [`CALL_TIMEOUT_MS`] and [`JOBS_QUEUE`]; telemetry is the global one `#[o11y::main]`
    /// installed.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(default_port, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read from `lookup`.
    pub fn from_lookup(
        default_port: u16,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let port = parse(&lookup, PORT, default_port, "not a port number")?;
        let host = parse(&lookup, HOST, [127, 0, 0, 1].into(), "not an IP address")?;
        let timeout = parse(
            &lookup,
            CALL_TIMEOUT_MS,
            1000,
            "not a number of milliseconds",
        )?;
        Ok(Self {
            listen: SocketAddr::new(host, port),
            service_a: url(&lookup, SERVICE_A_URL, "http://127.0.0.1:8081")?,
            service_b: url(&lookup, SERVICE_B_URL, "http://127.0.0.1:8082")?,
            service_c: url(&lookup, SERVICE_C_URL, "http://127.0.0.1:8083")?,
            call_timeout: Duration::from_millis(timeout),
            jobs_queue: lookup(JOBS_QUEUE)
                .map(|q| q.trim().to_owned())
                .filter(|q| !q.is_empty())
                .unwrap_or_else(|| "jobs".to_owned()),
            telemetry: Telemetry::global(),
        })
    }
}

fn parse<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    reason: &'static str,
) -> Result<T, ConfigError> {
    match lookup(variable) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| ConfigError {
            variable,
            value,
            reason,
        }),
    }
}

fn url(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let value = lookup(variable).unwrap_or_else(|| default.to_owned());
    let trimmed = value.trim().trim_end_matches('/');
    match trimmed.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => {
            Ok(trimmed.to_owned())
        }
        _ => Err(ConfigError {
            variable,
            value,
            reason: "not an http:// URL",
        }),
    }
}

/// Where a service's spans go: the global telemetry that `#[o11y::main]`
/// installed, or a tracer provider of its own when several services share
/// one process (the showcase, the tests).
#[derive(Clone, Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// The global providers.
    pub fn global() -> Self {
        Self::default()
    }

    /// A tracer provider of this service's own.
    pub fn with_tracer_provider(provider: SdkTracerProvider) -> Self {
        Self {
            provider: Some(provider),
        }
    }

    /// The one layer a router needs: a SERVER span per request (health
    /// checks skipped), the correlation id, metrics.
    pub fn server_layer(&self) -> ServerLayer {
        let layer = ServerLayer::new().skip_paths(["/health"]);
        match &self.provider {
            Some(provider) => layer.tracer_provider(provider),
            None => layer,
        }
    }

    /// An HTTP client making a CLIENT span per call and carrying the context.
    pub fn http_client(&self, timeout: std::time::Duration) -> ClientWithMiddleware {
        let plain = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        ClientBuilder::new(plain)
            .with(self.client_middleware())
            .build()
    }

    /// The client middleware alone, for a client built by hand.
    pub fn client_middleware(&self) -> ClientMiddleware {
        match &self.provider {
            Some(provider) => ClientMiddleware::new().tracer_provider(provider),
            None => ClientMiddleware::new(),
        }
    }

    /// A queue consumer reporting here.
    pub fn consumer<T: o11y::queue::Transport>(&self, transport: T) -> o11y::queue::Consumer<T> {
        let consumer = o11y::queue::Consumer::new(transport);
        match &self.provider {
            Some(provider) => consumer.with_tracer_provider(provider),
            None => consumer,
        }
    }

    /// A queue producer reporting here.
    pub fn producer<T: o11y::queue::Transport>(&self, transport: T) -> o11y::queue::Producer<T> {
        let producer = o11y::queue::Producer::new(transport);
        match &self.provider {
            Some(provider) => producer.with_tracer_provider(provider),
            None => producer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_point_at_the_local_ports() {
        let config = Config::from_lookup(8082, lookup(&[])).unwrap();
        assert_eq!(config.listen, "127.0.0.1:8082".parse().unwrap());
        assert_eq!(config.service_a, "http://127.0.0.1:8081");
        assert_eq!(config.call_timeout, Duration::from_secs(1));
    }

    #[test]
    fn values_are_read_and_trailing_slashes_dropped() {
        let config = Config::from_lookup(
            1,
            lookup(&[
                (PORT, "9000"),
                (HOST, "0.0.0.0"),
                (SERVICE_C_URL, "http://c:80/"),
                (CALL_TIMEOUT_MS, "250"),
            ]),
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.service_c, "http://c:80");
        assert_eq!(config.call_timeout, Duration::from_millis(250));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (pairs, variable) in [
            (&[(PORT, "99999")][..], PORT),
            (&[(HOST, "localhost:1")][..], HOST),
            (&[(SERVICE_B_URL, "ftp://b")][..], SERVICE_B_URL),
            (&[(SERVICE_A_URL, "http://")][..], SERVICE_A_URL),
            (&[(CALL_TIMEOUT_MS, "-1")][..], CALL_TIMEOUT_MS),
        ] {
            let pairs: &'static [(&str, &str)] = pairs;
            let error = Config::from_lookup(1, lookup(pairs))
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(variable), "{error}");
        }
    }
}
