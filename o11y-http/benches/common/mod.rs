//! Setup shared by the server benchmarks: the variants and their providers.
#![allow(dead_code)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use http::Request;
use opentelemetry::{Context, trace::TracerProvider as _};
use opentelemetry_sdk::{
    error::OTelSdkResult,
    metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider},
    trace::{Sampler, SdkTracerProvider, SpanData, SpanProcessor},
};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Clone, Default)]
pub struct Counting(pub Arc<AtomicU64>);

impl SpanProcessor for Counting {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
    fn on_end(&self, _: SpanData) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

pub fn tracer_provider(counting: &Counting, sampler: Sampler) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(counting.clone())
        .build()
}

pub fn app() -> Router {
    Router::new().route("/users/{id}", get(|| async { "ada" }))
}

/// [`app`], its responses carrying an `x-trace-id` header as the o11y rows'
/// responses do.
pub fn app_with_header() -> Router {
    Router::new().route(
        "/users/{id}",
        get(|| async { ([("x-trace-id", "4bf92f3577b34da6a3ce929d0e0e4736")], "ada") }),
    )
}

pub fn request(traceparent: bool) -> Request<Body> {
    let mut b = Request::get("http://api.local/users/42")
        .header("user-agent", "bench/1.0")
        .header("host", "api.local");
    if traceparent {
        b = b.header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
    }
    let mut req = b.body(Body::empty()).unwrap_or_default();
    // What `into_make_service_with_connect_info` adds, as under load.
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    req
}

/// Every variant, in the order they are reported; `bool` says whether the
/// request carries a sampled `traceparent`. Variants whose requests carry
/// none (they start traces) compare with `bare_axum_root`, which serves the
/// same requests.
pub struct Setup {
    pub counting: Counting,
    pub variants: Vec<(&'static str, Router, bool)>,
    /// The o11y rows' telemetry, kept running while the variants are used.
    pub guards: Vec<o11y_core::Guard>,
}

/// Telemetry as o11y builds it (not installed globally): `sampler`, spans to
/// `counting`, no exporter.
pub fn o11y_guard(
    counting: &Counting,
    sampler: o11y_core::sampler::SamplerConfig,
) -> o11y_core::Guard {
    use o11y_core::config::ExporterKind;
    o11y_core::builder("bench")
        .env_lookup(|_| None)
        .traces_exporter(ExporterKind::None)
        .metrics_exporter(ExporterKind::None)
        .logs_exporter(ExporterKind::None)
        .install_subscriber(false)
        .sampler(sampler)
        .with_span_processor(counting.clone())
        .build()
        .expect("o11y telemetry for the benchmark")
}

pub fn setup() -> Setup {
    setup_global()
}

/// The variants; the tracing subscriber is installed globally, so requests
/// served on other threads see it too.
pub fn setup_global() -> Setup {
    let counting = Counting::default();
    let always = tracer_provider(&counting, Sampler::AlwaysOn);
    let tenth = tracer_provider(
        &counting,
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(0.1))),
    );
    // The o11y rows use telemetry as o11y sets it up (`o11y::init` installs
    // the same globally); one 10 % row uses a provider built by hand.
    use o11y_core::sampler::SamplerConfig;
    let o11y_always = o11y_guard(
        &counting,
        SamplerConfig::ParentBased(Box::new(SamplerConfig::AlwaysOn)),
    );
    let o11y_tenth = o11y_guard(
        &counting,
        SamplerConfig::ParentBased(Box::new(SamplerConfig::TraceIdRatio(0.1))),
    );
    let o11y_never = o11y_guard(&counting, SamplerConfig::AlwaysOff);
    let meters = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    opentelemetry::global::set_tracer_provider(always.clone());
    opentelemetry::global::set_meter_provider(meters.clone());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(always.tracer("bench")));
    // Ignored when a subscriber is installed already (a second setup in one process).
    let _ = tracing::subscriber::set_global_default(subscriber);
    let variants: Vec<(&'static str, Router, bool)> = vec![
        ("bare_axum", app(), true),
        ("bare_axum_root", app(), false),
        // What the correlation id in the response costs bare axum: the same
        // header, 46 bytes on the wire, from the handler.
        ("bare_axum_root_header", app_with_header(), false),
        // What any `Router::layer` costs before its service does anything:
        // a layer whose service is the route itself still adds a route
        // level (the layered route boxed, cloned and called per request).
        (
            "bare_axum_root_layered",
            app().layer(tower::layer::util::Identity::new()),
            false,
        ),
        (
            "o11y_server_layer",
            app().layer(
                o11y_http::ServerLayer::new()
                    .guard(&o11y_always)
                    .meter_provider(&meters),
            ),
            true,
        ),
        // Every option on: captured and redacted headers, `url.query`,
        // body sizes and the `traceresponse` header.
        (
            "o11y_server_layer_all_features",
            app().layer(
                o11y_http::ServerLayer::new()
                    .guard(&o11y_always)
                    .meter_provider(&meters)
                    .capture_request_headers([
                        http::header::USER_AGENT,
                        http::header::AUTHORIZATION,
                    ])
                    .record_query(true)
                    .record_body_sizes(true)
                    .traceresponse(true),
            ),
            true,
        ),
        (
            "o11y_server_layer_10pct_sampled",
            app().layer(
                o11y_http::ServerLayer::new()
                    .guard(&o11y_tenth)
                    .meter_provider(&meters),
            ),
            false,
        ),
        (
            "o11y_server_layer_10pct_own_provider",
            app().layer(
                o11y_http::ServerLayer::new()
                    .tracer_provider(&tenth)
                    .meter_provider(&meters),
            ),
            false,
        ),
        (
            "o11y_server_layer_unsampled",
            app().layer(
                o11y_http::ServerLayer::new()
                    .guard(&o11y_never)
                    .meter_provider(&meters),
            ),
            false,
        ),
        (
            "tower_http_trace_layer",
            app().layer(tower_http::trace::TraceLayer::new_for_http()),
            true,
        ),
        (
            "axum_tracing_opentelemetry",
            app()
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default()),
            true,
        ),
        (
            "raw_sdk_span",
            app().layer(raw::RawSpanLayer(always.tracer("raw"))),
            true,
        ),
        (
            "opentelemetry_instrumentation_tower",
            app().layer(opentelemetry_instrumentation_tower::http::server::Layer::new()),
            true,
        ),
    ];
    // What serving does once per connection (`into_make_service` calls
    // `with_state`): handlers become routes, layers are applied. Without it,
    // a `Router` called directly rebuilds and boxes every layered handler on
    // every request.
    let variants = variants
        .into_iter()
        .map(|(name, router, traceparent)| (name, router.with_state(()), traceparent))
        .collect();
    Setup {
        counting,
        variants,
        guards: vec![o11y_always, o11y_tenth, o11y_never],
    }
}

/// The floor: a hand-written layer making one SDK span per request (parent
/// from `traceparent`, no attributes, no metrics, no correlation id), current
/// while the handler runs, ended with the response.
mod raw {
    use std::{
        future::Future,
        pin::Pin,
        task::{Context as TaskContext, Poll},
    };

    use http::{Request, Response};
    use opentelemetry::{
        Context,
        trace::{SpanKind, TraceContextExt as _, Tracer as _},
    };
    use opentelemetry_sdk::trace::SdkTracer;

    #[derive(Clone)]
    pub struct RawSpanLayer(pub SdkTracer);

    impl<S> tower::Layer<S> for RawSpanLayer {
        type Service = RawSpan<S>;
        fn layer(&self, inner: S) -> RawSpan<S> {
            RawSpan {
                inner,
                tracer: self.0.clone(),
            }
        }
    }

    #[derive(Clone)]
    pub struct RawSpan<S> {
        inner: S,
        tracer: SdkTracer,
    }

    impl<S, B, R> tower::Service<Request<B>> for RawSpan<S>
    where
        S: tower::Service<Request<B>, Response = Response<R>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = RawFuture<S::Future>;

        fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
            self.inner.poll_ready(cx)
        }

        fn call(&mut self, req: Request<B>) -> Self::Future {
            let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
            let parent = opentelemetry::propagation::TextMapPropagator::extract(
                &propagator,
                &opentelemetry_http::HeaderExtractor(req.headers()),
            );
            let span = self
                .tracer
                .span_builder("GET")
                .with_kind(SpanKind::Server)
                .start_with_context(&self.tracer, &parent);
            let cx = parent.with_span(span);
            let inner = {
                let _guard = cx.clone().attach();
                self.inner.call(req)
            };
            RawFuture { inner, cx }
        }
    }

    pin_project_lite::pin_project! {
        pub struct RawFuture<F> {
            #[pin]
            inner: F,
            cx: Context,
        }
    }

    impl<F: Future> Future for RawFuture<F> {
        type Output = F::Output;
        fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
            let this = self.project();
            let _guard = this.cx.clone().attach();
            let out = this.inner.poll(task);
            if out.is_ready() {
                this.cx.span().end();
            }
            out
        }
    }
}
