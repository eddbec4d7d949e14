//! The transport suite against SQS as served by `moto_server` on
//! 127.0.0.1:5000 (`O11Y_SQS_URL` overrides; `scripts/moto.sh` starts it).
#![cfg(feature = "sqs")]

mod support;

use std::time::Duration;

use aws_sdk_sqs::config::{
    BehaviorVersion, Credentials, Region, retry::RetryConfig, timeout::TimeoutConfig,
};
use o11y_queue::{SqsOptions, SqsTransport, sqs_http_client};
use support::Harness;

struct Sqs;

fn url() -> String {
    std::env::var("O11Y_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

impl Harness for Sqs {
    type T = SqsTransport;
    const NAME: &'static str = "sqs (moto)";

    async fn connect(&self) -> Option<SqsTransport> {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .endpoint_url(url())
            .http_client(sqs_http_client())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(10))
                    .build(),
            )
            .build();
        let client = aws_sdk_sqs::Client::from_conf(config);
        // Reachability: one cheap call.
        client.list_queues().max_results(1).send().await.ok()?;
        let options = SqsOptions::default()
            .with_wait(Duration::from_secs(1))
            .with_visibility_timeout(Duration::from_secs(1));
        Some(SqsTransport::new(client, options))
    }
}

suite!(Sqs);
