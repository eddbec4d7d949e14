//! Run: `PORT=8080 SERVICE_A_URL=http://127.0.0.1:8081 SERVICE_B_URL=http://127.0.0.1:8082 SERVICE_C_URL=http://127.0.0.1:8083 cargo run -p patterns --bin edge`
//!
//! The edge in front of A, B and C (see `patterns::edge`), then for example
//! `curl -i http://127.0.0.1:8080/a/parallel`. Telemetry from the `OTEL_*`
//! variables; JSON logs on standard output; stops on SIGTERM or Ctrl-C after
//! the requests in flight.

#[o11y::main(service = "edge")]
async fn main() -> Result<(), patterns::Error> {
    let config = patterns::Config::from_env(8080)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %config.listen, "edge listening");
    axum::serve(listener, patterns::edge::router(&config))
        .with_graceful_shutdown(o11y::shutdown_signal())
        .await?;
    Ok(())
}
