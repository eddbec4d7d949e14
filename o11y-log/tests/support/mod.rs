//! Shared test helpers: a captured writer, a fixed clock, and a subscriber
//! with the tracing-opentelemetry layer and the JSON layer.
#![allow(dead_code)]

use std::{
    io,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use o11y_core::testing::Capture;
use o11y_log::{Clock, JsonLayer};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use tracing::Subscriber;
use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

/// 2023-11-14T22:13:20.000042Z
pub const FIXED: &str = "2023-11-14T22:13:20.000042Z";

/// A clock stopped at [`FIXED`].
pub fn fixed_clock() -> impl Clock {
    || SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_micros(42)
}

/// Every byte the layer wrote.
#[derive(Clone, Debug, Default)]
pub struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    /// The raw output.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("output is UTF-8")
    }

    /// Each line parsed as a JSON object; fails the test on anything else.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).expect("output is UTF-8");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "last line ends: {text:?}"
        );
        text.lines()
            .map(|line| {
                let value: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
                assert!(value.is_object(), "{line}");
                value
            })
            .collect()
    }

    /// The only line written.
    pub fn line(&self) -> Value {
        let mut lines = self.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        lines.remove(0)
    }
}

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = Output;
    fn make_writer(&'a self) -> Output {
        self.clone()
    }
}

/// The JSON layer under test: captured output, fixed clock, service `svc`.
pub fn json_layer(out: &Output) -> JsonLayer<Output, impl Clock> {
    JsonLayer::new()
        .with_writer(out.clone())
        .with_clock(fixed_clock())
        .with_service("svc")
}

/// Registry + tracing-opentelemetry (tracer of `provider`) + the JSON layer
/// with the current span.
pub fn subscriber(provider: &SdkTracerProvider, out: &Output) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(json_layer(out).with_current_span(true))
}

/// A capture, its provider, the output and the subscriber.
pub fn setup() -> (Capture, SdkTracerProvider, Output) {
    let capture = Capture::new();
    let provider = capture.provider("svc");
    (capture, provider, Output::default())
}

/// The string at `key`, or `None` when the key is absent.
pub fn str_at<'a>(line: &'a Value, key: &str) -> Option<&'a str> {
    line.get(key).map(|v| v.as_str().expect("a string"))
}
