//! Run: `PORT=8082 SERVICE_A_URL=http://127.0.0.1:8081 SERVICE_C_URL=http://127.0.0.1:8083 cargo run -p patterns --bin service-b`
//!
//! Service B (see `patterns::service_b`). Telemetry from the `OTEL_*`
//! variables; JSON logs on standard output; stops on SIGTERM or Ctrl-C after
//! the requests in flight.

#[o11y::main(service = "service-b")]
async fn main() -> Result<(), patterns::Error> {
    let config = patterns::Config::from_env(8082)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %config.listen, "service-b listening");
    axum::serve(listener, patterns::service_b::router(&config))
        .with_graceful_shutdown(o11y::shutdown_signal())
        .await?;
    Ok(())
}
