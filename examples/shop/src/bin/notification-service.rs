//! Run: `PORT=8085 QUEUE_TRANSPORT=redis QUEUE_URL=redis://127.0.0.1:6379 cargo run -p shop --bin notification-service`
//!
//! Consumes the order events and sends confirmations
//! ([`shop::notifications`]); `GET /api/notifications` lists them.

use o11y::queue::AnyTransport;
use shop::{BoxError, notifications};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let guard = shop::telemetry("notification-service")?;
    let config = notifications::Config::from_env()?;
    let transport = AnyTransport::from_env().await?;
    let listener = shop::bind(8085).await?;
    tracing::info!(address = %listener.local_addr()?, queue = %config.queue, "notification-service listening");
    let notifier = notifications::Notifier::new(config, &guard);
    let http = shop::serve(listener, notifier.router(&guard), o11y::shutdown_signal());
    let consume = notifier.consume(transport, &guard, o11y::shutdown_signal());
    let (served, ()) = tokio::join!(http, consume);
    served?;
    tracing::info!("notification-service stopped");
    Ok(())
}
