//! Run: `PORT=8084 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo run -p shop --bin audit-service`
//!
//! Writes audit rows, with their trace ids, to PostgreSQL ([`shop::audit`]).

use shop::{BoxError, audit};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let guard = shop::telemetry("audit-service")?;
    let config = audit::Config::from_env()?;
    let store = audit::Store::connect(&config, &guard).await?;
    let listener = shop::bind(8084).await?;
    tracing::info!(address = %listener.local_addr()?, table = %config.table, "audit-service listening");
    shop::serve(
        listener,
        audit::router(store, &guard),
        o11y::shutdown_signal(),
    )
    .await?;
    tracing::info!("audit-service stopped");
    Ok(())
}
