//! The setting recommended for o11y-core's tracing-opentelemetry layer: log
//! events below WARN stay off spans (they travel as OTLP log records with
//! their ids instead), while WARN and ERROR events are still span events, so
//! an `error!` still marks the span as failed.

mod support;

use opentelemetry::trace::{Status, TracerProvider as _};
use tracing::Level;
use tracing_subscriber::{Layer, filter::filter_fn, layer::SubscriberExt};

#[test]
fn info_events_stay_off_spans_and_errors_still_set_the_status() {
    let (capture, provider, out) = support::setup();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("test"))
        .with_filter(filter_fn(|meta| {
            !meta.is_event() || *meta.level() <= Level::WARN
        }));
    let subscriber = tracing_subscriber::registry()
        .with(otel)
        .with(support::json_layer(&out));
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("pay").entered();
        tracing::info!("routine");
        tracing::warn!("slow");
        tracing::error!("card declined");
    });
    let spans = capture.wait_for(1);
    let pay = spans.find("pay");
    assert_eq!(pay.event_names(), ["slow", "card declined"]);
    assert!(
        matches!(pay.status(), Status::Error { .. }),
        "{:?}",
        pay.status()
    );
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "every event is still logged");
    assert!(
        lines
            .iter()
            .all(|l| l["span_id"] == pay.span_id().to_string())
    );
}
