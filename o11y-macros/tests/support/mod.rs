//! Shared by the integration tests: one capture installed as the global
//! tracer provider (and behind a `tracing` subscriber bridged to it), and a
//! lock so that the cases of one binary run one after another.

use std::sync::{Mutex, MutexGuard, OnceLock};

use o11y::{
    opentelemetry::{global, trace::TracerProvider as _},
    testing::Capture,
};
use tracing_subscriber::layer::SubscriberExt as _;

/// Holds the lock for one test case.
pub struct Case {
    _lock: MutexGuard<'static, ()>,
    pub capture: Capture,
}

/// Starts a test case with an empty capture.
pub fn case() -> Case {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::new();
        let provider = capture.provider("svc");
        let layer = o11y::tracing_opentelemetry::layer().with_tracer(provider.tracer("tracing"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("the only subscriber");
        global::set_tracer_provider(provider);
        capture
    });
    let lock = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    capture.clear();
    Case {
        _lock: lock,
        capture: capture.clone(),
    }
}
