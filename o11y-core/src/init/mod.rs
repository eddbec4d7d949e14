//! One-call setup: tracer, meter and logger providers, the propagator, and a
//! `tracing` subscriber bridged to OpenTelemetry, behind a [`Guard`] that
//! flushes and shuts everything down on drop, within a timeout.
//!
//! ```no_run
//! # fn main() -> Result<(), o11y_core::InitError> {
//! let _guard = o11y_core::builder("order-service").version("1.2.0").environment("prod").init()?;
//! tracing::info!("telemetry is on");
//! # Ok(()) }
//! ```

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use opentelemetry::{KeyValue, global, trace::TracerProvider as _};
use opentelemetry_sdk::{
    Resource,
    logs::{LogProcessor, SdkLoggerProvider},
    metrics::{MeterProviderBuilder, SdkMeterProvider},
    trace::{SdkTracerProvider, SpanProcessor},
};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::{Layer, Registry, filter::filter_fn, layer::SubscriberExt};

use crate::{
    config::{Config, ExporterKind, QueueLimits},
    error::{ConfigError, InitError, ShutdownError},
    propagation::Propagator,
    sampler::SamplerConfig,
};

mod exporters;
mod own;
mod queue;
mod warn;

pub use own::{EXPORTER_CRATES, is_exporter_target};
pub use queue::{DROPPED as TELEMETRY_DROPPED, QUEUE_SIZE as TELEMETRY_QUEUE_SIZE};

/// A boxed `tracing` layer that [`Builder::with_layer`] adds to the subscriber.
pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync + 'static>;

type MakeLayer = Box<dyn FnOnce(&Guard) -> BoxedLayer + Send>;
type Lookup = Box<dyn Fn(&str) -> Option<String> + Send>;
type MakeProcessor = Box<dyn FnOnce() -> Box<dyn SpanProcessor> + Send>;
type EditMeters = Box<dyn FnOnce(MeterProviderBuilder) -> MeterProviderBuilder + Send>;
type EditLogs = Box<
    dyn FnOnce(
            opentelemetry_sdk::logs::LoggerProviderBuilder,
        ) -> opentelemetry_sdk::logs::LoggerProviderBuilder
        + Send,
>;

static INSTALLED: std::sync::RwLock<Option<SdkTracerProvider>> = std::sync::RwLock::new(None);

/// The SDK tracer provider that [`init`] installed globally, while its guard
/// lives. Instrumentation uses it to skip the global provider's boxing.
pub fn installed_tracer_provider() -> Option<SdkTracerProvider> {
    INSTALLED.read().ok().and_then(|p| p.clone())
}

static INSTALLED_METER: std::sync::RwLock<Option<SdkMeterProvider>> = std::sync::RwLock::new(None);

/// The SDK meter provider that [`init`] installed globally, while its guard
/// lives.
pub fn installed_meter_provider() -> Option<SdkMeterProvider> {
    INSTALLED_METER.read().ok().and_then(|p| p.clone())
}

#[cfg(feature = "prometheus")]
static INSTALLED_PROMETHEUS: std::sync::RwLock<Option<crate::PrometheusHandle>> =
    std::sync::RwLock::new(None);

/// The Prometheus exposition of the telemetry [`init`] installed, while its
/// guard lives and metrics go to Prometheus: what a `/metrics` route serves
/// under `#[o11y::main]`, which keeps the guard to itself.
///
/// ```no_run
/// # fn route() -> String {
/// o11y_core::installed_prometheus().map(|m| m.render()).unwrap_or_default()
/// # }
/// ```
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub fn installed_prometheus() -> Option<crate::PrometheusHandle> {
    INSTALLED_PROMETHEUS.read().ok().and_then(|p| p.clone())
}

/// Starts telemetry for `service_name` from the environment. See [`Builder`].
pub fn init(service_name: impl Into<String>) -> Result<Guard, InitError> {
    builder(service_name).init()
}

/// A [`Builder`] for `service_name`; settings made in code win over `OTEL_*` variables.
pub fn builder(service_name: impl Into<String>) -> Builder {
    Builder::new(service_name)
}

/// Configures and installs telemetry. Code settings win over the environment.
#[must_use = "call .init() to install telemetry"]
pub struct Builder {
    service_name: String,
    attributes: Vec<KeyValue>,
    traces: Option<ExporterKind>,
    metrics: Option<ExporterKind>,
    logs: Option<ExporterKind>,
    sampler: Option<SamplerConfig>,
    propagator: Option<Propagator>,
    queues: [Option<QueueLimits>; 2],
    span_processors: Vec<MakeProcessor>,
    metric_readers: Vec<EditMeters>,
    log_processors: Vec<EditLogs>,
    layers: Vec<MakeLayer>,
    install_subscriber: bool,
    span_events: LevelFilter,
    shutdown_timeout: Duration,
    lookup: Lookup,
    /// `false` in [`Builder::init_with_fallback`]'s second try: layers only.
    telemetry: bool,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("service_name", &self.service_name)
            .finish_non_exhaustive()
    }
}

impl Builder {
    fn new(service_name: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            attributes: Vec::new(),
            traces: None,
            metrics: None,
            logs: None,
            sampler: None,
            propagator: None,
            queues: [None, None],
            span_processors: Vec::new(),
            metric_readers: Vec::new(),
            log_processors: Vec::new(),
            layers: Vec::new(),
            install_subscriber: true,
            span_events: LevelFilter::WARN,
            shutdown_timeout: Duration::from_secs(5),
            lookup: Box::new(|name| std::env::var(name).ok()),
            telemetry: true,
        }
    }

    /// `service.version`.
    pub fn version(self, version: impl Into<String>) -> Self {
        self.resource_attribute("service.version", version.into())
    }

    /// `deployment.environment.name`.
    pub fn environment(self, environment: impl Into<String>) -> Self {
        self.resource_attribute("deployment.environment.name", environment.into())
    }

    /// Any resource attribute; wins over `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn resource_attribute(
        mut self,
        key: &'static str,
        value: impl Into<opentelemetry::Value>,
    ) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Where traces go (overrides `OTEL_TRACES_EXPORTER`).
    pub fn traces_exporter(mut self, kind: ExporterKind) -> Self {
        self.traces = Some(kind);
        self
    }

    /// Where metrics go (overrides `OTEL_METRICS_EXPORTER`).
    pub fn metrics_exporter(mut self, kind: ExporterKind) -> Self {
        self.metrics = Some(kind);
        self
    }

    /// Where logs go (overrides `OTEL_LOGS_EXPORTER`).
    pub fn logs_exporter(mut self, kind: ExporterKind) -> Self {
        self.logs = Some(kind);
        self
    }

    /// The sampler (overrides `OTEL_TRACES_SAMPLER`).
    pub fn sampler(mut self, sampler: SamplerConfig) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// The propagator (overrides `OTEL_PROPAGATORS`).
    pub fn propagator(mut self, propagator: Propagator) -> Self {
        self.propagator = Some(propagator);
        self
    }

    /// Bounds of the OTLP span export queue (overrides `OTEL_BSP_MAX_QUEUE_SIZE`
    /// and `O11Y_BSP_MAX_QUEUE_BYTES`): past either, a span is dropped and
    /// counted in [`TELEMETRY_DROPPED`](crate::TELEMETRY_DROPPED).
    pub fn span_queue(mut self, limits: QueueLimits) -> Self {
        self.queues[0] = Some(limits);
        self
    }

    /// Bounds of the OTLP log export queue (overrides `OTEL_BLRP_MAX_QUEUE_SIZE`
    /// and `O11Y_BLRP_MAX_QUEUE_BYTES`).
    pub fn log_queue(mut self, limits: QueueLimits) -> Self {
        self.queues[1] = Some(limits);
        self
    }

    /// Adds a span processor (for example an in-memory capture in tests).
    pub fn with_span_processor<P: SpanProcessor + 'static>(mut self, processor: P) -> Self {
        self.span_processors
            .push(Box::new(move || Box::new(processor)));
        self
    }

    /// Adjusts the meter provider before it is built, for example to add a
    /// reader: `.configure_metrics(|b| b.with_reader(reader))`.
    pub fn configure_metrics(
        mut self,
        f: impl FnOnce(MeterProviderBuilder) -> MeterProviderBuilder + Send + 'static,
    ) -> Self {
        self.metric_readers.push(Box::new(f));
        self
    }

    /// Adds a log processor.
    pub fn with_log_processor<P: LogProcessor + 'static>(mut self, processor: P) -> Self {
        self.log_processors
            .push(Box::new(move |b| b.with_log_processor(processor)));
        self
    }

    /// Adds a `tracing` layer, made once the providers exist (the log layer uses this).
    pub fn with_layer(mut self, make: impl FnOnce(&Guard) -> BoxedLayer + Send + 'static) -> Self {
        self.layers.push(Box::new(make));
        self
    }

    /// Whether to install the global `tracing` subscriber (default `true`).
    ///
    /// The subscriber holds the tracing-opentelemetry layer (without the
    /// exporter's own spans: see [`is_exporter_target`]), the layers added
    /// with [`with_layer`](Builder::with_layer), and a layer that reports the
    /// SDK's export failures and drops (its WARN and ERROR events, targets
    /// `opentelemetry*`) on standard error, one line per 10 s at most. With
    /// a subscriber of your own, route those events somewhere yourself.
    pub fn install_subscriber(mut self, install: bool) -> Self {
        self.install_subscriber = install;
        self
    }

    /// Which `tracing` events the tracing-opentelemetry layer also copies into
    /// span events (default `WARN`: warnings and errors; `TRACE` copies all,
    /// `OFF` none). Every event reaches OTLP logs with its trace and span ids
    /// anyway, and copying one costs about 0.45 us (see docs/benchmarks.md).
    pub fn span_events(mut self, level: LevelFilter) -> Self {
        self.span_events = level;
        self
    }

    /// How long [`Guard::shutdown`] (and drop) waits for exports (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Reads settings through `lookup` instead of the process environment.
    pub fn env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + Send + 'static) -> Self {
        self.lookup = Box::new(lookup);
        self
    }

    /// Resolves the configuration without installing anything.
    pub fn config(&self) -> Result<Config, ConfigError> {
        if !self.telemetry {
            let mut config = Config::from_lookup(|_| None)?;
            config.disabled = true;
            config.service_name = Some(self.service_name.clone());
            return Ok(config);
        }
        let mut config = Config::from_lookup(&self.lookup)?;
        config.service_name = Some(self.service_name.clone())
            .filter(|s| !s.is_empty())
            .or(config.service_name);
        config.traces_exporter = self.traces.unwrap_or(config.traces_exporter);
        config.metrics_exporter = self.metrics.unwrap_or(config.metrics_exporter);
        config.logs_exporter = self.logs.unwrap_or(config.logs_exporter);
        if let Some(s) = &self.sampler {
            config.sampler = s.clone();
        }
        if let Some(p) = &self.propagator {
            config.propagator = p.clone();
        }
        config.span_queue = self.queues[0].unwrap_or(config.span_queue);
        config.log_queue = self.queues[1].unwrap_or(config.log_queue);
        Ok(config)
    }

    /// Builds the providers, installs them globally with the propagator and
    /// (unless turned off) the `tracing` subscriber, and returns the guard.
    pub fn init(self) -> Result<Guard, InitError> {
        let guard = self.build()?;
        guard.install()?;
        Ok(guard)
    }

    /// Builds the providers without installing anything globally.
    pub fn build(mut self) -> Result<Guard, InitError> {
        let inner = self.providers()?;
        Ok(self.guard(inner))
    }

    /// [`init`](Builder::init), except that when telemetry cannot start (a
    /// bad `OTEL_*` value, an exporter that cannot be built) the `tracing`
    /// layers added with [`with_layer`](Builder::with_layer), such as the
    /// JSON logs, are installed anyway, with no provider and no exporter.
    /// Returns the guard (`None` only when no subscriber could be installed
    /// either) and the reason telemetry is off, if it is.
    pub fn init_with_fallback(mut self) -> (Option<Guard>, Option<InitError>) {
        let (inner, error) = match self.providers() {
            Ok(inner) => (inner, None),
            Err(error) => {
                self.telemetry = false;
                match self.providers() {
                    Ok(inner) => (inner, Some(error)),
                    Err(_) => return (None, Some(error)),
                }
            }
        };
        let guard = self.guard(inner);
        match guard.install() {
            Ok(()) => (Some(guard), error),
            Err(e) => (None, Some(error.unwrap_or(e))),
        }
    }

    /// The providers and exporters the configuration asks for.
    fn providers(&mut self) -> Result<Inner, InitError> {
        let config = self.config()?;
        let resource = self.resource(&config);
        let exporters = exporters::Exporters::new(&config)?;
        let mut inner = Inner {
            service_name: config
                .service_name
                .clone()
                .unwrap_or_else(|| "unknown_service".into()),
            tracer_provider: None,
            meter_provider: None,
            logger_provider: None,
            propagator: config.propagator.clone(),
            #[cfg(feature = "prometheus")]
            prometheus: None,
            layers: Vec::new(),
            install_subscriber: self.install_subscriber,
            installed: false,
            meter_installed: false,
            span_events: self.span_events,
            runtime: None,
            queues: Vec::new(),
        };
        if !config.disabled {
            let mut traces = SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .with_sampler(config.sampler.build());
            for make in self.span_processors.drain(..) {
                traces = traces.with_span_processor(BoxedProcessor(make()));
            }
            let mut metrics = SdkMeterProvider::builder().with_resource(resource.clone());
            for add in self.metric_readers.drain(..) {
                metrics = add(metrics);
            }
            let mut logs = SdkLoggerProvider::builder().with_resource(resource);
            for add in self.log_processors.drain(..) {
                logs = add(logs);
            }
            let (traces, metrics, logs) =
                exporters.attach(&config, &mut inner, traces, metrics, logs)?;
            inner.tracer_provider = Some(traces.build());
            let meter_provider = metrics.build();
            queue::register(&meter_provider, &inner.queues);
            inner.meter_provider = Some(meter_provider);
            inner.logger_provider = Some(logs.build());
        }
        Ok(inner)
    }

    /// The guard over `inner`, with the layers made for it.
    fn guard(self, inner: Inner) -> Guard {
        let guard = Guard {
            inner: Arc::new(Mutex::new(Some(inner))),
            timeout: self.shutdown_timeout,
        };
        let layers: Vec<BoxedLayer> = self.layers.into_iter().map(|make| make(&guard)).collect();
        if let Ok(mut lock) = guard.inner.lock() {
            if let Some(inner) = lock.as_mut() {
                inner.layers = layers;
            }
        }
        guard
    }

    fn resource(&self, config: &Config) -> Resource {
        let name = config
            .service_name
            .clone()
            .unwrap_or_else(|| "unknown_service".into());
        let mut attributes = config.resource_attributes.clone();
        attributes.retain(|kv| !self.attributes.iter().any(|c| c.key == kv.key));
        attributes.extend(self.attributes.iter().cloned());
        Resource::builder_empty()
            .with_detector(Box::new(
                opentelemetry_sdk::resource::TelemetryResourceDetector,
            ))
            .with_attributes(attributes)
            .with_service_name(name)
            .build()
    }
}

#[derive(Debug)]
struct BoxedProcessor(Box<dyn SpanProcessor>);

impl SpanProcessor for BoxedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }
    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.0.on_end(span);
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

struct Inner {
    service_name: String,
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    propagator: Propagator,
    #[cfg(feature = "prometheus")]
    prometheus: Option<crate::PrometheusHandle>,
    layers: Vec<BoxedLayer>,
    /// Whether this guard's provider is the one [`installed_tracer_provider`] returns.
    installed: bool,
    /// Whether this guard published its meter provider in `INSTALLED_METER`.
    meter_installed: bool,
    install_subscriber: bool,
    span_events: LevelFilter,
    #[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
    runtime: Option<tokio_rt::Runtime>,
    /// The accounting of the bounded export queues (OTLP spans and logs).
    queues: Vec<std::sync::Arc<queue::Queue>>,
}

impl Drop for Inner {
    /// The exporter runtime stops without waiting: dropping it would block,
    /// which panics inside an async context (an `init` that fails there,
    /// or a guard shut down there).
    fn drop(&mut self) {
        #[cfg(feature = "otlp-grpc")]
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(feature = "otlp-grpc")]
mod tokio_rt {
    pub(super) type Runtime = tokio::runtime::Runtime;
}
#[cfg(not(feature = "otlp-grpc"))]
mod tokio_rt {
    /// No runtime is needed without the gRPC exporter.
    #[derive(Debug)]
    pub(super) enum Runtime {}
}

/// Keeps telemetry running; flushes and shuts it down on drop (or
/// [`shutdown`](Guard::shutdown)) within the configured timeout.
///
/// Dropping it is safe on any runtime flavour and outside any runtime: the
/// exporters run on their own threads, so nothing waits on the caller's executor.
#[must_use = "telemetry stops when the guard is dropped"]
pub struct Guard {
    inner: Arc<Mutex<Option<Inner>>>,
    timeout: Duration,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Guard {
    fn with<T>(&self, f: impl FnOnce(&Inner) -> Option<T>) -> Option<T> {
        self.inner.lock().ok().and_then(|g| g.as_ref().and_then(f))
    }

    /// The service name in the resource.
    pub fn service_name(&self) -> String {
        self.with(|i| Some(i.service_name.clone()))
            .unwrap_or_default()
    }

    /// The tracer provider (`None` when `OTEL_SDK_DISABLED=true` or after shutdown).
    pub fn tracer_provider(&self) -> Option<SdkTracerProvider> {
        self.with(|i| i.tracer_provider.clone())
    }

    /// The propagator this guard's configuration chose.
    pub fn propagator(&self) -> Option<Propagator> {
        self.with(|i| Some(i.propagator.clone()))
    }

    /// The meter provider.
    pub fn meter_provider(&self) -> Option<SdkMeterProvider> {
        self.with(|i| i.meter_provider.clone())
    }

    /// The logger provider (the OTLP log bridge of `o11y-log` attaches to it).
    pub fn logger_provider(&self) -> Option<SdkLoggerProvider> {
        self.with(|i| i.logger_provider.clone())
    }

    /// The Prometheus text exposition, when metrics go to Prometheus.
    #[cfg(feature = "prometheus")]
    #[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
    pub fn prometheus(&self) -> Option<crate::PrometheusHandle> {
        self.with(|i| i.prometheus.clone())
    }

    fn install(&self) -> Result<(), InitError> {
        let Ok(mut lock) = self.inner.lock() else {
            return Ok(());
        };
        let Some(inner) = lock.as_mut() else {
            return Ok(());
        };
        if inner.install_subscriber {
            let mut layers = std::mem::take(&mut inner.layers);
            if let Some(provider) = &inner.tracer_provider {
                let span_events = inner.span_events;
                let otel: BoxedLayer = Box::new(
                    tracing_opentelemetry::layer()
                        .with_tracer(provider.tracer("o11y"))
                        // Never the exporter's own spans and events.
                        .with_filter(filter_fn(move |meta| {
                            !is_exporter_target(meta.target())
                                && (!meta.is_event() || *meta.level() <= span_events)
                        })),
                );
                layers.insert(0, otel);
            }
            layers.push(Box::new(
                warn::ExportWarnings::stderr().with_filter(filter_fn(warn::interested)),
            ));
            let subscriber = Registry::default().with(layers);
            if tracing::subscriber::set_global_default(subscriber).is_err() {
                drop(lock);
                let _ = self.shutdown();
                return Err(InitError::SubscriberAlreadySet);
            }
        }
        if let Some(p) = &inner.tracer_provider {
            global::set_tracer_provider(p.clone());
            if let Ok(mut installed) = INSTALLED.write() {
                *installed = Some(p.clone());
                inner.installed = true;
            }
        }
        if let Some(p) = &inner.meter_provider {
            global::set_meter_provider(p.clone());
            if let Ok(mut installed) = INSTALLED_METER.write() {
                *installed = Some(p.clone());
                inner.meter_installed = true;
            }
            #[cfg(feature = "prometheus")]
            if let Ok(mut installed) = INSTALLED_PROMETHEUS.write() {
                installed.clone_from(&inner.prometheus);
            }
        }
        global::set_text_map_propagator(inner.propagator.clone());
        Propagator::set_global(inner.propagator.clone());
        Ok(())
    }

    /// How long [`shutdown`](Guard::shutdown) (and drop) may take.
    pub fn shutdown_timeout(&self) -> Duration {
        self.timeout
    }

    /// Flushes every signal, then shuts the providers down, all within the
    /// configured timeout (see [`shutdown_within`](Guard::shutdown_within)).
    /// Later calls do nothing.
    pub fn shutdown(&self) -> Result<(), ShutdownError> {
        self.shutdown_within(self.timeout)
    }

    /// Flushes and shuts down traces, metrics and logs at the same time, each
    /// on its own thread, and returns within `timeout` whatever they do: one
    /// deadline for all, the SDK metric reader's own fixed wait included. A
    /// provider still busy at the deadline is reported in the error and left
    /// to finish in the background. The wait for the providers ends 100 ms
    /// (or a twentieth of `timeout`, if less) before `timeout`, so that a
    /// process that shuts down and exits is gone within it. Later calls do
    /// nothing.
    pub fn shutdown_within(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let Some(inner) = self.inner.lock().ok().and_then(|mut g| g.take()) else {
            return Ok(());
        };
        let deadline = deadline_after(timeout.saturating_sub(EXIT_ROOM.min(timeout / 20)));
        if inner.installed {
            if let Ok(mut installed) = INSTALLED.write() {
                *installed = None;
            }
        }
        if inner.meter_installed {
            if let Ok(mut installed) = INSTALLED_METER.write() {
                *installed = None;
            }
            #[cfg(feature = "prometheus")]
            if let Ok(mut installed) = INSTALLED_PROMETHEUS.write() {
                *installed = None;
            }
        }
        let (done, results) = std::sync::mpsc::channel();
        let mut pending = Vec::new();
        let mut failures = Vec::new();
        let mut spawn = |signal: &'static str, stop: Box<dyn FnOnce() -> ShutdownResult + Send>| {
            let done = done.clone();
            let started = std::thread::Builder::new()
                .name(format!("o11y-shutdown-{signal}"))
                .spawn(move || {
                    let _ = done.send((signal, stop()));
                });
            match started {
                Ok(_) => pending.push(signal),
                Err(e) => failures.push(format!("{signal}: no thread to shut down on: {e}")),
            }
        };
        if let Some(p) = inner.tracer_provider.clone() {
            spawn("traces", Box::new(move || p.shutdown_with_timeout(timeout)));
        }
        if let Some(p) = inner.meter_provider.clone() {
            spawn(
                "metrics",
                Box::new(move || p.shutdown_with_timeout(timeout)),
            );
        }
        if let Some(p) = inner.logger_provider.clone() {
            spawn("logs", Box::new(move || p.shutdown_with_timeout(timeout)));
        }
        drop(done);
        while !pending.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match results.recv_timeout(left) {
                Ok((signal, result)) => {
                    pending.retain(|s| *s != signal);
                    if let Err(e) = result {
                        failures.push(format!("{signal}: {e}"));
                    }
                }
                Err(_) => break,
            }
        }
        failures.extend(
            pending
                .iter()
                .map(|signal| format!("{signal}: not done within {timeout:?}")),
        );
        drop(inner); // the exporter runtime too, without waiting (see `Drop`)
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError { failures })
        }
    }
}

type ShutdownResult = opentelemetry_sdk::error::OTelSdkResult;

/// What [`Guard::shutdown_within`] leaves of its timeout for the process to
/// exit after it returns (the runtime, threads and buffers torn down): this
/// much, or a twentieth of the timeout when that is less. Measured: a
/// service's exit took 10 to 30 ms after a shutdown that used its whole 5 s.
pub(crate) const EXIT_ROOM: Duration = Duration::from_millis(100);

/// `timeout` from now; about 136 years for a timeout too large to add
/// (`Duration::MAX`), rather than a panic.
pub(crate) fn deadline_after(timeout: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Errors were already reported through OpenTelemetry's internal logs.
        let _ = self.shutdown();
    }
}
