//! Run: `PORT=8081 cargo run -p shop --bin user-service`
//!
//! Users in memory ([`shop::users`]): `GET/POST /api/users`,
//! `GET /api/users/{id}`, `GET /health`, `GET /metrics`.

use shop::{BoxError, users};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let guard = shop::telemetry("user-service")?;
    let listener = shop::bind(8081).await?;
    tracing::info!(address = %listener.local_addr()?, "user-service listening");
    shop::serve(listener, users::router(&guard), o11y::shutdown_signal()).await?;
    tracing::info!("user-service stopped");
    Ok(())
}
