//! Run: `PORT=8086 cargo run -p shop --bin order-validator`
//!
//! The serverless-style order check ([`shop::validator`]) behind a local
//! stand-in for API Gateway: `curl -X POST localhost:8086/validate -d '{"user_id":1,"amount":5,"items":["tea"]}'`.

use shop::{BoxError, validator};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let guard = shop::telemetry("order-validator")?;
    let listener = shop::bind(8086).await?;
    tracing::info!(address = %listener.local_addr()?, "order-validator listening");
    shop::serve(listener, validator::router(&guard), o11y::shutdown_signal()).await?;
    tracing::info!("order-validator stopped");
    Ok(())
}
