//! The cases of the suite, generic over the transport, and their helpers.

mod batch;
mod context;
mod failures;
mod panics;

pub use batch::*;
pub use context::*;
pub use failures::*;
pub use panics::*;

use std::time::Duration;

use o11y_core::{CorrelationContextExt, CorrelationId, testing::Capture};
use o11y_queue::{Consumer, Handler, Incoming, Message, Producer, RetryPolicy, Transport};
use opentelemetry::{
    Context,
    trace::{TraceContextExt, Tracer, TracerProvider},
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::sync::{mpsc, oneshot};

use super::PATIENCE;

pub fn fixture() -> (Capture, SdkTracerProvider) {
    let capture = Capture::new();
    let provider = capture.provider("svc");
    (capture, provider)
}

pub(super) fn producer<T: Transport>(t: T, provider: &SdkTracerProvider) -> Producer<T> {
    Producer::new(t).with_tracer_provider(provider)
}

pub(super) fn consumer<T: Transport>(t: T, provider: &SdkTracerProvider) -> Consumer<T> {
    Consumer::new(t).with_tracer_provider(provider).with_retry(
        RetryPolicy::new(5).with_backoff(Duration::from_millis(10), Duration::from_millis(40)),
    )
}

/// A consumer running on its own task.
pub(super) struct Running {
    pub(super) stop: oneshot::Sender<()>,
    pub(super) join: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(PATIENCE, self.join)
            .await
            .expect("consumer did not stop")
            .expect("consumer task failed");
    }
}

pub(super) fn spawn<T: Transport, H: Handler>(
    consumer: Consumer<T>,
    queue: &str,
    handler: H,
) -> Running {
    let queue = queue.to_owned();
    spawn_with(move |stopped| async move {
        consumer.run_until(&queue, handler, stopped).await;
    })
}

/// Runs `consume` on its own task, handing it the future that completes
/// when [`Running::stop`] is called.
pub(super) fn spawn_with<F, Fut>(consume: F) -> Running
where
    F: FnOnce(futures_util::future::BoxFuture<'static, ()>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    let join = tokio::spawn(consume(Box::pin(async {
        let _ = stopped.await;
    })));
    Running { stop, join }
}

pub(super) async fn recv<M>(rx: &mut mpsc::UnboundedReceiver<M>) -> M {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("timed out waiting for the handler")
        .expect("handler channel closed")
}

/// Receives one raw delivery from `queue` (acking it), waiting up to PATIENCE.
pub(super) async fn receive_one<T: Transport>(t: &T, queue: &str) -> Message {
    let message = receive_raw(t, queue).await;
    opened(t, message)
}

/// Like [`receive_one`], the message exactly as the transport delivered it.
pub(super) async fn receive_raw<T: Transport>(t: &T, queue: &str) -> Message {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let batch = t.receive(queue, 1).await.expect("receive");
        if let Some(d) = batch.into_iter().next() {
            t.ack(queue, &d).await.expect("ack");
            return d.message;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing arrived on {queue}"
        );
    }
}

/// A message as its producer meant it: on a transport without native
/// headers, the headers and body inside its envelope.
pub fn opened<T: Transport>(t: &T, message: Message) -> Message {
    if t.native_headers() {
        return message;
    }
    match o11y_queue::envelope::decode(&message.payload) {
        Some(Ok((headers, payload))) => Message { headers, payload },
        _ => message,
    }
}

pub(super) fn traced(provider: &SdkTracerProvider, correlation: &str) -> Context {
    let parent = Context::new().with_correlation_id(CorrelationId::parse(correlation).unwrap());
    let request = provider
        .tracer("test")
        .start_with_context("request", &parent);
    parent.with_span(request)
}

/// A handler forwarding each message, the correlation id it saw, and making
/// a `handle` span inside the current context.
pub(super) fn forwarding(
    provider: &SdkTracerProvider,
) -> (
    impl Handler,
    mpsc::UnboundedReceiver<(Incoming, Option<CorrelationId>)>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let tracer = provider.tracer("handler");
    let handler = move |m: Incoming| {
        let (tx, tracer) = (tx.clone(), tracer.clone());
        async move {
            let span = tracer.start("handle");
            let seen = o11y_core::current_correlation_id();
            drop(span);
            let _ = tx.send((m, seen));
            Ok::<_, String>(())
        }
    };
    (handler, rx)
}

pub(super) fn attr(span: &o11y_core::testing::CapturedSpan, key: &str) -> String {
    span.attr_str(key).unwrap_or_default()
}
