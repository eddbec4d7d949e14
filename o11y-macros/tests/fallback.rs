//! Under `#[o11y::main]`, a setting that keeps telemetry from starting does
//! not take the JSON logs with it: the service logs as usual, the reason is
//! logged once at ERROR, and no secret of the bad value is written.
//! Installs the global subscriber, so this binary holds one test.

use std::{
    io::Write,
    sync::{Arc, Mutex, PoisonError},
};

use tracing_subscriber::fmt::MakeWriter;

/// The JSON lines, captured.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Lines {
    type Writer = Self;
    fn make_writer(&self) -> Self {
        self.clone()
    }
}

static LINES: Mutex<Option<Lines>> = Mutex::new(None);

fn broken(builder: o11y::Builder) -> o11y::Builder {
    let lines = LINES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(Lines::default)
        .clone();
    o11y::log::install_with_writer(builder, lines).env_lookup(|name| {
        (name == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "authorization=Bearer SECRET123,oops".into())
    })
}

#[o11y::main(builder = broken, flavor = "current_thread")]
async fn service() -> u32 {
    tracing::info!(order_id = 7, "serving");
    42
}

#[test]
fn when_telemetry_cannot_start_json_logs_go_on_with_the_reason_at_error() {
    assert_eq!(service(), 42);
    let bytes = LINES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .expect("the builder ran")
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let text = String::from_utf8(bytes).unwrap();
    assert!(!text.contains("SECRET123"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let errors: Vec<_> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert_eq!(errors[0]["target"], "o11y");
    let reason = errors[0]["error"].as_str().unwrap();
    assert!(
        reason.starts_with("OTEL_EXPORTER_OTLP_HEADERS=\"authorization=***,***\""),
        "{reason}"
    );
    let serving = lines
        .iter()
        .find(|l| l["message"] == "serving")
        .expect("the service's own line");
    assert_eq!(serving["order_id"], 7);
    assert_eq!(serving["level"], "INFO");
}
