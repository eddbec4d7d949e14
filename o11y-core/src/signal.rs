//! The signals that stop a service: SIGTERM (what Kubernetes, systemd and
//! `docker stop` send) and SIGINT (Ctrl-C).
//!
//! ```no_run
//! # async fn serve() {}
//! # async fn run() {
//! // axum: axum::serve(listener, app).with_graceful_shutdown(o11y_core::shutdown_signal())
//! tokio::select! {
//!     () = serve() => {}
//!     () = o11y_core::shutdown_signal() => { /* stop receiving, finish what is held */ }
//! }
//! # }
//! ```
//!
//! Every listener is told: a service may wait for the signal in several
//! places (the HTTP server, a queue consumer, `#[o11y::main]`) and each of
//! them wakes up.

#[cfg(unix)]
use std::{future::poll_fn, task::Poll};

/// Completes when the process receives SIGTERM or SIGINT (Ctrl-C).
///
/// For `axum::serve(..).with_graceful_shutdown(o11y::shutdown_signal())` and
/// to stop a queue consumer. Must be polled inside a tokio runtime with its
/// I/O driver; when the handlers cannot be installed there (no runtime, or
/// the OS refuses) the reason is logged at WARN and the future never
/// completes, so a service is never stopped by mistake.
pub async fn shutdown_signal() {
    Signals::new().recv().await;
}

/// The stop signals, registered when made: a signal that arrives after
/// [`Signals::new`] is not lost even if [`recv`](Signals::recv) is called later.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(not(unix))]
    ctrl_c: bool,
}

/// Signal numbers, as the exit status `128 + n` of a process they stopped.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

impl Signals {
    /// Installs the handlers (see [`shutdown_signal`] for when they cannot be).
    pub fn new() -> Self {
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!(
                target: "o11y",
                "shutdown_signal() outside a tokio runtime: it will never complete"
            );
            return Self::none();
        }
        Self::register()
    }

    #[cfg(unix)]
    fn none() -> Self {
        Self {
            term: None,
            int: None,
        }
    }

    #[cfg(not(unix))]
    fn none() -> Self {
        Self { ctrl_c: false }
    }

    #[cfg(unix)]
    fn register() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(error) => {
                tracing::warn!(target: "o11y", %error, "cannot listen for {name}");
                None
            }
        };
        Self {
            term: install(SignalKind::terminate(), "SIGTERM"),
            int: install(SignalKind::interrupt(), "SIGINT"),
        }
    }

    #[cfg(not(unix))]
    fn register() -> Self {
        Self { ctrl_c: true }
    }

    /// Waits for the next signal and returns its number (15 for SIGTERM, 2
    /// for SIGINT); never returns when no handler could be installed.
    #[cfg(unix)]
    pub async fn recv(&mut self) -> i32 {
        poll_fn(|cx| {
            for (slot, number) in [(&mut self.term, SIGTERM), (&mut self.int, SIGINT)] {
                if let Some(signal) = slot {
                    match signal.poll_recv(cx) {
                        Poll::Ready(Some(())) => return Poll::Ready(number),
                        // The driver is gone: this signal can no longer arrive.
                        Poll::Ready(None) => *slot = None,
                        Poll::Pending => {}
                    }
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Waits for Ctrl-C and returns 2; never returns when it cannot be watched.
    #[cfg(not(unix))]
    pub async fn recv(&mut self) -> i32 {
        if self.ctrl_c && tokio::signal::ctrl_c().await.is_ok() {
            return SIGINT;
        }
        std::future::pending().await
    }
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_it_never_completes_and_does_not_panic() {
        let mut signals = Signals::new();
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut recv = std::pin::pin!(signals.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
    }

    #[test]
    fn a_signal_sent_after_registration_is_received_with_its_number() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let number = rt.block_on(async {
            let mut signals = Signals::new();
            let status = std::process::Command::new("kill")
                .args(["-INT", &std::process::id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            tokio::time::timeout(std::time::Duration::from_secs(10), signals.recv()).await
        });
        assert_eq!(number, Ok(SIGINT));
    }
}
