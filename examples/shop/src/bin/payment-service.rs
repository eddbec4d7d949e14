//! Run: `PORT=8083 AUDIT_SERVICE_URL=http://127.0.0.1:8084 cargo run -p shop --bin payment-service`
//!
//! Approves or declines charges and has them audited ([`shop::payments`]).

use shop::{BoxError, payments};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let guard = shop::telemetry("payment-service")?;
    let router = payments::router(payments::Config::from_env()?, &guard);
    let listener = shop::bind(8083).await?;
    tracing::info!(address = %listener.local_addr()?, "payment-service listening");
    shop::serve(listener, router, o11y::shutdown_signal()).await?;
    tracing::info!("payment-service stopped");
    Ok(())
}
