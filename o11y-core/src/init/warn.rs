//! Export failures and drops made visible: the OpenTelemetry SDK reports
//! them as `tracing` events (its `internal-logs` feature, targets
//! `opentelemetry*`: `BatchSpanProcessor.ExportError`,
//! `BatchLogProcessor.LogDroppingStarted`, ...). This layer turns those at
//! WARN and ERROR into one line on standard error, at most one per
//! [`INTERVAL`], with the count of the lines held back since the last one,
//! so a collector outage is seen without flooding the service's output.

use std::{
    fmt::Write as _,
    sync::Mutex,
    time::{Duration, Instant},
};

use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context};

/// At most one line per this interval.
pub(super) const INTERVAL: Duration = Duration::from_secs(10);
/// A line is cut at this many bytes.
const MAX_LINE: usize = 512;

type Sink = Box<dyn Fn(&str) + Send + Sync>;

/// The layer; see the module documentation.
pub(super) struct ExportWarnings {
    sink: Sink,
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last: Option<Instant>,
    held_back: u64,
}

impl ExportWarnings {
    /// Lines go to standard error.
    pub(super) fn stderr() -> Self {
        #[allow(clippy::print_stderr)]
        Self::new(INTERVAL, Box::new(|line| eprintln!("{line}")))
    }

    fn new(interval: Duration, sink: Sink) -> Self {
        Self {
            sink,
            interval,
            state: Mutex::new(State::default()),
        }
    }

    /// Writes `line` unless one was written less than the interval before `now`.
    fn report(&self, now: Instant, line: impl FnOnce() -> String) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.interval)
        {
            state.held_back += 1;
            return;
        }
        let mut line = line();
        if state.held_back > 0 {
            let _ = write!(line, " ({} more held back)", state.held_back);
        }
        state.last = Some(now);
        state.held_back = 0;
        drop(state);
        (self.sink)(&line);
    }
}

/// The events the layer reports: WARN and ERROR of the OpenTelemetry
/// crates and of the export queues (a full queue's drops). As its filter,
/// this keeps every other callsite disabled for it.
pub(super) fn interested(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_event()
        && *meta.level() <= Level::WARN
        && (meta.target().starts_with("opentelemetry")
            || meta.target() == super::queue::DROP_WARNING_TARGET)
}

impl<S: Subscriber> Layer<S> for ExportWarnings {
    fn on_event(&self, event: &Event<'_>, _cx: Context<'_, S>) {
        let meta = event.metadata();
        if !interested(meta) {
            return;
        }
        self.report(Instant::now(), || {
            let mut line = format!(
                "o11y: telemetry export problem ({} {}):",
                meta.level(),
                meta.target()
            );
            event.record(&mut Fields(&mut line));
            cut(&mut line, MAX_LINE);
            line
        });
    }
}

/// Appends ` name=value` for every field.
struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let end = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(end);
        s.push('…');
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn capture(interval: Duration) -> (ExportWarnings, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let layer = ExportWarnings::new(
            interval,
            Box::new(move |l| sink.lock().unwrap().push(l.to_owned())),
        );
        (layer, lines)
    }

    #[test]
    fn sdk_warnings_and_errors_become_lines_other_events_do_not() {
        let (layer, lines) = capture(Duration::ZERO);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                target: "opentelemetry_sdk",
                name = "BatchSpanProcessor.ExportError",
                error = "connection refused"
            );
            tracing::warn!(target: "opentelemetry-otlp", name = "x", "dropped");
            tracing::info!(target: "opentelemetry_sdk", name = "TracerProvider.Built");
            tracing::error!(target: "shop", "the service's own error");
        });
        let lines = lines.lock().unwrap();
        assert_eq!(
            *lines,
            [
                "o11y: telemetry export problem (ERROR opentelemetry_sdk): \
                 name=BatchSpanProcessor.ExportError error=connection refused",
                "o11y: telemetry export problem (WARN opentelemetry-otlp): \
                 message=dropped name=x",
            ]
        );
    }

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let (layer, lines) = capture(Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..100 {
            layer.report(t0 + Duration::from_millis(i), || format!("line {i}"));
        }
        layer.report(t0 + Duration::from_secs(10), || "later".into());
        layer.report(t0 + Duration::from_secs(11), || "held".into());
        layer.report(t0 + Duration::from_secs(25), || "last".into());
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "line 0",
                "later (99 more held back)",
                "last (1 more held back)"
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let mut s = "é".repeat(400);
        cut(&mut s, MAX_LINE);
        assert!(s.len() <= MAX_LINE + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
