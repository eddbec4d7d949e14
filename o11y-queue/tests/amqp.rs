//! The transport suite against RabbitMQ on 127.0.0.1:5672 (`O11Y_AMQP_URL`
//! overrides).
#![cfg(feature = "amqp")]

mod support;

use o11y_queue::{AmqpOptions, AmqpTransport};
use support::Harness;

struct Amqp;

fn url() -> String {
    std::env::var("O11Y_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

impl Harness for Amqp {
    type T = AmqpTransport;
    const NAME: &'static str = "rabbitmq";

    async fn connect(&self) -> Option<AmqpTransport> {
        let options = AmqpOptions::default().with_poll(std::time::Duration::from_millis(200));
        AmqpTransport::connect(&url(), options).await.ok()
    }

    async fn crash(&self, transport: AmqpTransport) {
        transport.close().await;
    }

    fn cleanup(&self, queue: &str) -> support::Cleanup {
        support::cleanup::amqp(&url(), queue)
    }
}

suite!(Amqp);
