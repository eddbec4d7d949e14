//! [`NonBlocking`]: a writer that never blocks the service. Lines go into a
//! bounded in-memory buffer that a worker thread drains to the real writer;
//! when the buffer is full a line is dropped and counted, not waited for.
//!
//! ```
//! use o11y_log::{JsonLayer, NonBlocking};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let (writer, guard) = NonBlocking::with_capacity(std::io::stdout(), 1 << 20)?;
//! let dropped = writer.clone();
//! let subscriber = tracing_subscriber::registry().with(JsonLayer::new().with_writer(writer));
//! tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
//! drop(guard); // writes what is left, then stops the worker
//! assert_eq!(dropped.dropped(), 0);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::{
    io::{self, Write},
    sync::Arc,
};

use tracing_subscriber::fmt::MakeWriter;

mod worker;

use worker::Shared;
pub use worker::WorkerGuard;

/// The default buffer of [`NonBlocking::new`]: 1 MiB.
pub const DEFAULT_CAPACITY: usize = 1024 * 1024;

/// A [`MakeWriter`] handing lines to a worker thread through a bounded
/// buffer; when the buffer is full a line is dropped and counted
/// ([`dropped`](Self::dropped)) instead of blocking the caller. Cheap to clone.
///
/// Lines still buffered are written when the [`WorkerGuard`] is dropped.
#[derive(Clone, Debug)]
pub struct NonBlocking {
    shared: Arc<Shared>,
}

impl NonBlocking {
    /// Starts a worker writing to `writer`, with a [`DEFAULT_CAPACITY`] buffer.
    pub fn new<W: Write + Send + 'static>(writer: W) -> io::Result<(Self, WorkerGuard)> {
        Self::with_capacity(writer, DEFAULT_CAPACITY)
    }

    /// Starts a worker writing to `writer`, buffering at most `bytes` bytes.
    pub fn with_capacity<W: Write + Send + 'static>(
        writer: W,
        bytes: usize,
    ) -> io::Result<(Self, WorkerGuard)> {
        let (shared, guard) = worker::start(writer, bytes)?;
        Ok((Self { shared }, guard))
    }

    /// How many writes (log lines) were dropped because the buffer was full
    /// or the worker had stopped.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped()
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = NonBlockingWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        NonBlockingWriter {
            shared: &self.shared,
        }
    }
}

/// The writer [`NonBlocking`] makes: each `write` call is one line, kept
/// whole or dropped whole.
#[derive(Debug)]
pub struct NonBlockingWriter<'a> {
    shared: &'a Shared,
}

impl Write for NonBlockingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, mpsc};

    use super::*;

    /// A writer that reports each write, then waits for a go-ahead.
    struct Gate {
        entered: mpsc::Sender<Vec<u8>>,
        go: mpsc::Receiver<()>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.entered.send(buf.to_vec());
            let _ = self.go.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn full_buffer_drops_and_counts_instead_of_blocking() {
        let (entered_tx, entered) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let gate = Gate {
            entered: entered_tx,
            go: go_rx,
        };
        let (writer, guard) = NonBlocking::with_capacity(gate, 10).unwrap();
        writer.make_writer().write_all(b"first\n").unwrap();
        // The worker now holds "first" and waits in the gate.
        assert_eq!(entered.recv().unwrap(), b"first\n");
        writer.make_writer().write_all(b"second\n").unwrap(); // 7 of 10 bytes
        writer.make_writer().write_all(b"third\n").unwrap(); // would be 13: dropped
        writer.make_writer().write_all(b"4th\n").unwrap(); // 11: dropped
        assert_eq!(writer.dropped(), 2);
        go.send(()).unwrap();
        assert_eq!(entered.recv().unwrap(), b"second\n");
        go.send(()).unwrap();
        drop(guard);
        assert!(entered.try_recv().is_err());
        writer.make_writer().write_all(b"late\n").unwrap();
        assert_eq!(writer.dropped(), 3);
    }

    #[test]
    fn dropping_the_guard_writes_everything_buffered() {
        let out = Arc::new(Mutex::new(Vec::new()));
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (writer, guard) = NonBlocking::new(Shared(Arc::clone(&out))).unwrap();
        for i in 0..1000 {
            writeln!(writer.make_writer(), "line {i}").unwrap();
        }
        drop(guard);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(text.lines().last(), Some("line 999"));
        assert_eq!(writer.dropped(), 0);
    }
}
