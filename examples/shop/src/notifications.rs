//! `notification-service`: consumes the [`OrderCreated`] events and sends
//! each buyer a confirmation, through a webhook (`NOTIFY_WEBHOOK_URL`, a
//! mail or chat gateway) when one is configured.
//!
//! A failed send is retried with backoff and dead-lettered after the last
//! attempt (`NOTIFY_MAX_ATTEMPTS`); every attempt is a `process` span with
//! its attempt number. `GET /api/notifications` lists what was sent.
//! Metrics: `notifications_sent_total`, `notifications_failed_total`,
//! `notification_processing_duration_seconds`.

use std::{
    future::Future,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use o11y::{
    Guard,
    opentelemetry::{
        KeyValue,
        metrics::{Counter, Histogram},
    },
    queue::{AnyTransport, Consumer, Incoming, Permanent, RetryPolicy},
};
use reqwest_middleware::ClientWithMiddleware;
use serde::{Deserialize, Serialize};

use crate::{
    BoxError,
    env::{EnvError, env_or, parse_or, url_or},
    service::{OrderCreated, call, client, error, json_body, meter, traced},
};

/// What `notification-service` reads and where it sends.
#[derive(Clone, Debug)]
pub struct Config {
    /// `ORDERS_QUEUE` (default `orders`).
    pub queue: String,
    /// `NOTIFY_WEBHOOK_URL`: where confirmations are POSTed; when unset they
    /// are only logged.
    pub webhook: Option<String>,
    /// `NOTIFY_MAX_ATTEMPTS` (default 5): deliveries before dead-lettering.
    pub max_attempts: u32,
    /// `NOTIFY_RETRY_BASE_MS` (default 100): the first retry delay, doubling.
    pub retry_base: Duration,
}

impl Config {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, EnvError> {
        let webhook = url_or("NOTIFY_WEBHOOK_URL", "");
        Ok(Self {
            queue: env_or("ORDERS_QUEUE", "orders"),
            webhook: (!webhook.is_empty()).then_some(webhook),
            max_attempts: parse_or("NOTIFY_MAX_ATTEMPTS", 5)?,
            retry_base: Duration::from_millis(parse_or("NOTIFY_RETRY_BASE_MS", 100)?),
        })
    }

    /// The retry policy of the consumer.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy::new(self.max_attempts).with_backoff(self.retry_base, Duration::from_secs(30))
    }
}

/// A confirmation that was sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The order confirmed.
    pub order_id: u64,
    /// To whom.
    pub email: String,
    /// The delivery attempt that sent it.
    pub attempt: u32,
}

/// Why a confirmation was not sent (the message is retried).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The message is not an [`OrderCreated`] event.
    #[error("not an order event: {0}")]
    Event(#[from] serde_json::Error),
    /// The webhook refused or could not be reached.
    #[error("webhook: {0}")]
    Webhook(String),
}

/// Sends confirmations; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    config: Arc<Config>,
    client: ClientWithMiddleware,
    sent: Arc<RwLock<Vec<Notification>>>,
    sent_total: Counter<u64>,
    failed_total: Counter<u64>,
    duration: Histogram<f64>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier traced and measured with `guard`'s providers.
    pub fn new(config: Config, guard: &Guard) -> Self {
        let meter = meter(guard);
        Self {
            config: Arc::new(config),
            client: client(guard),
            sent: Arc::default(),
            sent_total: meter
                .u64_counter("notifications.sent")
                .with_description("Confirmations sent")
                .build(),
            failed_total: meter
                .u64_counter("notifications.failed")
                .with_description("Attempts to send a confirmation that failed")
                .build(),
            duration: meter
                .f64_histogram("notification.processing.duration")
                .with_unit("s")
                .with_description("Time to handle one order event")
                .build(),
        }
    }

    /// `GET /api/notifications`, traced, with `/health` and `/metrics`.
    pub fn router(&self, guard: &Guard) -> Router {
        let routes = Router::new()
            .route("/api/notifications", get(list))
            .with_state(self.clone());
        traced(routes, guard)
    }

    /// Consumes the order events on `transport` until `shutdown`
    /// completes, then lets the message in hand finish.
    pub async fn consume(
        &self,
        transport: AnyTransport,
        guard: &Guard,
        shutdown: impl Future<Output = ()>,
    ) {
        let consumer = Consumer::new(transport)
            .with_retry(self.config.retry())
            .with_guard(guard);
        let notifier = self.clone();
        let handler = move |message: Incoming| {
            let notifier = notifier.clone();
            async move {
                notifier.handle(message).await.map_err(|e| match e {
                    // No retry mends a message that is not an order event.
                    NotifyError::Event(_) => BoxError::from(Permanent::new(e)),
                    NotifyError::Webhook(_) => BoxError::from(e),
                })
            }
        };
        consumer
            .run_until(&self.config.queue, handler, shutdown)
            .await;
    }

    /// Handles one delivery of an order event.
    async fn handle(&self, message: Incoming) -> Result<(), NotifyError> {
        let started = Instant::now();
        let result = self.send(&message).await;
        let outcome = if result.is_ok() { "sent" } else { "failed" };
        let attrs = [KeyValue::new("outcome", outcome)];
        self.duration
            .record(started.elapsed().as_secs_f64(), &attrs);
        match &result {
            Ok(()) => self.sent_total.add(1, &[]),
            Err(e) => {
                self.failed_total.add(1, &[]);
                tracing::warn!(attempt = message.attempt, error = %e, "confirmation not sent");
            }
        }
        result
    }

    async fn send(&self, message: &Incoming) -> Result<(), NotifyError> {
        let event: OrderCreated = serde_json::from_slice(&message.payload)?;
        if let Some(webhook) = &self.config.webhook {
            let body = serde_json::json!({
                "to": event.email,
                "subject": format!("Order {} confirmed", event.order_id),
            });
            let reply = call(json_body(self.client.post(webhook), &body), "webhook")
                .await
                .map_err(|e| NotifyError::Webhook(e.to_string()))?;
            if !reply.status.is_success() {
                return Err(NotifyError::Webhook(format!("status {}", reply.status)));
            }
        }
        tracing::info!(
            order_id = event.order_id,
            attempt = message.attempt,
            "order confirmation sent"
        );
        let sent = Notification {
            order_id: event.order_id,
            email: event.email,
            attempt: message.attempt,
        };
        if let Ok(mut list) = self.sent.write() {
            list.push(sent);
        }
        Ok(())
    }
}

async fn list(State(notifier): State<Notifier>) -> Response {
    match notifier.sent.read() {
        Ok(sent) => Json(sent.clone()).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "list unavailable"),
    }
}
