//! Run: `PORT=8081 SERVICE_B_URL=http://127.0.0.1:8082 SERVICE_C_URL=http://127.0.0.1:8083 cargo run -p patterns --bin service-a`
//!
//! Service A, the orchestrator (see `patterns::service_a`). Telemetry from
//! the `OTEL_*` variables; JSON logs on standard output; stops on SIGTERM or
//! Ctrl-C after the requests in flight.

#[o11y::main(service = "service-a")]
async fn main() -> Result<(), patterns::Error> {
    let config = patterns::Config::from_env(8081)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %config.listen, "service-a listening");
    axum::serve(listener, patterns::service_a::router(&config))
        .with_graceful_shutdown(o11y::shutdown_signal())
        .await?;
    Ok(())
}
