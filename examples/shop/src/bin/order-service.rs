//! Run: `PORT=8082 USER_SERVICE_URL=http://127.0.0.1:8081 PAYMENT_SERVICE_URL=http://127.0.0.1:8083 QUEUE_TRANSPORT=redis QUEUE_URL=redis://127.0.0.1:6379 cargo run -p shop --bin order-service`
//!
//! Orders in memory ([`shop::orders`]); each new order is published to
//! `ORDERS_QUEUE` on the broker `QUEUE_TRANSPORT` names.

use o11y::queue::{AnyTransport, Transport as _};
use shop::{BoxError, orders};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let guard = shop::telemetry("order-service")?;
    let config = orders::Config::from_env()?;
    let transport = AnyTransport::from_env().await?;
    if transport.system() == "memory" {
        tracing::warn!("QUEUE_TRANSPORT=memory: order events stay inside this process");
    }
    let listener = shop::bind(8082).await?;
    tracing::info!(address = %listener.local_addr()?, queue = %config.queue, "order-service listening");
    let router = orders::router(config, transport, &guard);
    shop::serve(listener, router, o11y::shutdown_signal()).await?;
    tracing::info!("order-service stopped");
    Ok(())
}
