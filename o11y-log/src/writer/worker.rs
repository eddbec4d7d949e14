//! The worker side of [`NonBlocking`](super::NonBlocking): the shared
//! bounded buffer, the thread that drains it, and the guard that stops it.

use std::{
    io::{self, Write},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
};

/// What the service side and the worker share.
#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

/// Lines waiting for the worker.
#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    closed: bool,
}

/// Starts a thread draining a new buffer of at most `capacity` bytes into `writer`.
pub(super) fn start<W: Write + Send + 'static>(
    writer: W,
    capacity: usize,
) -> io::Result<(Arc<Shared>, WorkerGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        ready: Condvar::new(),
        capacity,
        dropped: AtomicU64::new(0),
    });
    let worker = Arc::clone(&shared);
    let handle = std::thread::Builder::new()
        .name("o11y-log-writer".into())
        .spawn(move || drain(&worker, writer))?;
    let guard = WorkerGuard {
        shared: Arc::clone(&shared),
        handle: Some(handle),
    };
    Ok((shared, guard))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Buffers `line`, or counts it as dropped when it does not fit.
    pub(super) fn push(&self, line: &[u8]) {
        let mut state = self.lock();
        if state.closed || state.pending.len() + line.len() > self.capacity {
            drop(state);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let was_empty = state.pending.is_empty();
        state.pending.extend_from_slice(line);
        drop(state);
        if was_empty {
            self.ready.notify_one();
        }
    }

    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Writes every batch the service hands over until the guard closes the buffer.
fn drain<W: Write>(shared: &Shared, mut writer: W) {
    let mut batch = Vec::new();
    loop {
        let closed = {
            let mut state = shared.lock();
            while state.pending.is_empty() && !state.closed {
                state = shared
                    .ready
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            std::mem::swap(&mut state.pending, &mut batch);
            state.closed
        };
        if !batch.is_empty() {
            // Nowhere to report a failed write; the lines are lost either way.
            let _ = writer.write_all(&batch);
            let _ = writer.flush();
            batch.clear();
        }
        if closed {
            return;
        }
    }
}

/// Stops the worker of a [`NonBlocking`](super::NonBlocking) when dropped,
/// after it has written everything still buffered. Keep it alive as long as
/// the writer is used.
#[derive(Debug)]
#[must_use = "dropping the guard stops the writer"]
pub struct WorkerGuard {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
