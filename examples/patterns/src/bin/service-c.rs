//! Run: `PORT=8083 SERVICE_A_URL=http://127.0.0.1:8081 QUEUE_TRANSPORT=memory cargo run -p patterns --bin service-c`
//!
//! Service C (see `patterns::service_c`): serves HTTP and processes the
//! `jobs` queue (`QUEUE_TRANSPORT`, `QUEUE_URL`; brokers need the crate's
//! `redis`, `amqp` or `sqs` feature). Telemetry from the `OTEL_*` variables;
//! JSON logs on standard output; stops on SIGTERM or Ctrl-C after the
//! requests and jobs in flight.

use o11y::queue::AnyTransport;
use patterns::service_c;

#[o11y::main(service = "service-c")]
async fn main() -> Result<(), patterns::Error> {
    let config = patterns::Config::from_env(8083)?;
    let transport = AnyTransport::from_env().await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %config.listen, "service-c listening");
    let server = axum::serve(listener, service_c::router(&config))
        .with_graceful_shutdown(o11y::shutdown_signal());
    let jobs = service_c::consume_jobs(transport, &config, o11y::shutdown_signal());
    let (served, ()) = tokio::join!(server.into_future(), jobs);
    served?;
    Ok(())
}
