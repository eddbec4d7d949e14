//! Run: `PORT=8080 USER_SERVICE_URL=http://127.0.0.1:8081 ORDER_SERVICE_URL=http://127.0.0.1:8082 VALIDATOR_URL=http://127.0.0.1:8086 cargo run -p shop --bin api-gateway`
//!
//! The shop's entry point ([`shop::gateway`]).

use shop::{BoxError, gateway};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let guard = shop::telemetry("api-gateway")?;
    let router = gateway::router(gateway::Config::from_env(), &guard);
    let listener = shop::bind(8080).await?;
    tracing::info!(address = %listener.local_addr()?, "api-gateway listening");
    shop::serve(listener, router, o11y::shutdown_signal()).await?;
    tracing::info!("api-gateway stopped");
    Ok(())
}
