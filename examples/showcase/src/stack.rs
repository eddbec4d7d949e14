//! The services, started in this process: the edge, A, B and C of the
//! call-pattern examples, each on an ephemeral loopback port with a tracer
//! provider of its own that feeds one capture (and, with `--otlp`, a
//! collector too).
//!
//! The shop's services start next to them ([`crate::shop`]).

use std::{net::SocketAddr, time::Duration};

use o11y::{Guard, queue::AnyTransport, testing::Capture};
use patterns::{Config, Telemetry};

use crate::Options;

/// A service's outbound calls may take this long (B6 waits for it).
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// Why the services could not start.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl StartError {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}

/// The running services.
pub struct Stack {
    /// Every span every service ended.
    pub capture: Capture,
    /// Base URLs.
    pub edge: String,
    /// Service A.
    pub a: String,
    /// Service B.
    pub b: String,
    /// Service C.
    pub c: String,
    /// Service C's configuration (its job consumer runs per scenario).
    pub c_config: Config,
    /// The queue the queue scenarios use.
    pub transport: AnyTransport,
    /// The name of that transport.
    pub transport_name: String,
    /// The collector URL, if any.
    pub otlp: Option<String>,
    /// The shop.
    pub shop: crate::shop::Shop,
    guards: Vec<Guard>,
}

/// The settings a service's telemetry reads: OTLP to `otlp` when given,
/// no exporter otherwise.
pub fn otel_vars(otlp: Option<&str>) -> impl Fn(&str) -> Option<String> + Send + 'static {
    let endpoint = otlp.map(str::to_owned);
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").ok();
    move |name| match (name, &endpoint) {
        ("OTEL_TRACES_EXPORTER", Some(_)) => Some("otlp".into()),
        ("OTEL_TRACES_EXPORTER" | "OTEL_METRICS_EXPORTER" | "OTEL_LOGS_EXPORTER", _) => {
            Some("none".into())
        }
        ("OTEL_EXPORTER_OTLP_ENDPOINT", Some(url)) => Some(url.clone()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", Some(_)) => protocol.clone(),
        _ => None,
    }
}

/// Telemetry for `service`: spans into `capture`, and to the collector.
pub fn telemetry(
    service: &str,
    capture: &Capture,
    otlp: Option<&str>,
) -> Result<Guard, StartError> {
    o11y::builder(service)
        .install_subscriber(false)
        .env_lookup(otel_vars(otlp))
        .with_span_processor(capture.processor())
        .build()
        .map_err(|e| StartError(format!("telemetry for {service}: {e}")))
}

async fn bind() -> Result<(tokio::net::TcpListener, SocketAddr), StartError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| StartError(format!("binding a loopback port: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError(e.to_string()))?;
    Ok((listener, addr))
}

/// A queue name no earlier run left messages in.
pub(crate) fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let salt = (nanos ^ u128::from(std::process::id())) & 0xff_ffff;
    format!("{name}-{salt:06x}")
}

/// The broker URL for `--transport`, from `QUEUE_URL` or the local default.
fn queue_url(name: &str) -> Option<String> {
    std::env::var(o11y::queue::QUEUE_URL).ok().or(match name {
        "redis" | "redis-list" => Some("redis://127.0.0.1:6379".into()),
        "amqp" => Some("amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        "sqs" => Some("http://127.0.0.1:5000".into()),
        _ => None,
    })
}

impl Stack {
    /// Starts the edge, A, B and C; they serve until the runtime ends.
    pub async fn start(options: &Options) -> Result<Self, StartError> {
        let capture = Capture::new();
        let otlp = options.otlp.as_deref();
        let (edge, a, b, c) = (bind().await?, bind().await?, bind().await?, bind().await?);
        let url = |addr: SocketAddr| format!("http://{addr}");
        let mut guards = Vec::new();
        let mut config = |name: &str, listen: SocketAddr| -> Result<Config, StartError> {
            let guard = telemetry(name, &capture, otlp)?;
            let provider = guard
                .tracer_provider()
                .ok_or_else(|| StartError(format!("{name}: telemetry is disabled")))?;
            guards.push(guard);
            Ok(Config {
                listen,
                service_a: url(a.1),
                service_b: url(b.1),
                service_c: url(c.1),
                call_timeout: CALL_TIMEOUT,
                jobs_queue: unique("jobs"),
                telemetry: Telemetry::with_tracer_provider(provider),
            })
        };
        let c_config = config("service-c", c.1)?;
        let routers = [
            (edge.0, patterns::edge::router(&config("edge", edge.1)?)),
            (a.0, patterns::service_a::router(&config("service-a", a.1)?)),
            (b.0, patterns::service_b::router(&config("service-b", b.1)?)),
            (c.0, patterns::service_c::router(&c_config)),
        ];
        for (listener, router) in routers {
            tokio::spawn(async move { axum::serve(listener, router).await });
        }
        let transport_name = options.transport.clone().unwrap_or_else(|| "memory".into());
        let transport =
            AnyTransport::connect(&transport_name, queue_url(&transport_name).as_deref())
                .await
                .map_err(|e| StartError(format!("--transport {transport_name}: {e}")))?;
        let shop = crate::shop::Shop::start(&capture, otlp, &transport, &mut guards).await?;
        Ok(Self {
            shop,
            capture,
            edge: url(edge.1),
            a: url(a.1),
            b: url(b.1),
            c: url(c.1),
            c_config,
            transport,
            transport_name,
            otlp: options.otlp.clone(),
            guards,
        })
    }

    /// Flushes every service's telemetry (to the collector, with `--otlp`).
    pub fn shutdown(&self) {
        for guard in &self.guards {
            let _ = guard.shutdown();
        }
    }
}
