//! `order-service`: orders in memory; checks the user with `user-service`,
//! charges `payment-service` when one is configured, and publishes an
//! [`OrderCreated`] event for `notification-service`.
//!
//! `GET /api/orders`, `POST /api/orders` (`{"user_id", "amount", "items"}`,
//! 201), `GET /api/orders/{id}` (the order with its user). Metrics:
//! `orders_created_total`, `orders_errors_total` (by `reason`),
//! `order_value`.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::{Path, State},
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
    queue::{AnyTransport, Producer},
};
use reqwest_middleware::ClientWithMiddleware;
use serde::{Deserialize, Serialize};

use crate::{
    env::{EnvError, env_or, url_or},
    service::{OrderCreated, call, client, error, json_body, meter, producer, traced},
    users::User,
};

/// Where `order-service` finds the others.
#[derive(Clone, Debug)]
pub struct Config {
    /// `USER_SERVICE_URL` (default `http://127.0.0.1:8081`).
    pub user_service: String,
    /// `PAYMENT_SERVICE_URL`; orders are not charged when it is unset.
    pub payment_service: Option<String>,
    /// `ORDERS_QUEUE`, where the events go (default `orders`).
    pub queue: String,
}

impl Config {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, EnvError> {
        let payment = env_or("PAYMENT_SERVICE_URL", "");
        Ok(Self {
            user_service: url_or("USER_SERVICE_URL", "http://127.0.0.1:8081"),
            payment_service: (!payment.is_empty())
                .then(|| payment.trim_end_matches('/').to_owned()),
            queue: env_or("ORDERS_QUEUE", "orders"),
        })
    }
}

/// An order as the service stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Assigned by the service, from 1.
    pub id: u64,
    /// Who ordered.
    pub user_id: u64,
    /// The order's value.
    pub amount: f64,
    /// What was ordered.
    pub items: Vec<String>,
    /// `created`, or `paid` when a payment service charged it.
    pub status: String,
}

/// An order to place.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewOrder {
    /// An existing user.
    pub user_id: u64,
    /// More than zero.
    pub amount: f64,
    /// What is ordered.
    #[serde(default)]
    pub items: Vec<String>,
}

#[derive(Clone)]
struct Orders {
    config: Arc<Config>,
    client: ClientWithMiddleware,
    events: Arc<Producer<AnyTransport>>,
    store: Arc<RwLock<BTreeMap<u64, Order>>>,
    next: Arc<AtomicU64>,
    created: Counter<u64>,
    errors: Counter<u64>,
    value: Histogram<f64>,
}

/// The service's routes, traced, with `/health` and `/metrics`; events go
/// to `config.queue` on `transport`.
pub fn router(config: Config, transport: AnyTransport, guard: &Guard) -> Router {
    let meter = meter(guard);
    let orders = Orders {
        config: Arc::new(config),
        client: client(guard),
        events: Arc::new(producer(transport, guard)),
        store: Arc::default(),
        next: Arc::default(),
        created: meter
            .u64_counter("orders.created")
            .with_description("Orders placed")
            .build(),
        errors: meter
            .u64_counter("orders.errors")
            .with_description("Orders refused or failed, by reason")
            .build(),
        value: meter
            .f64_histogram("order.value")
            .with_description("Value of each order placed")
            .with_boundaries(vec![10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0])
            .build(),
    };
    let routes = Router::new()
        .route("/api/orders", get(list).post(create))
        .route("/api/orders/{id}", get(find))
        .with_state(orders);
    traced(routes, guard)
}

impl Orders {
    fn fail(&self, status: StatusCode, reason: &'static str, message: &str) -> Response {
        self.errors.add(1, &[KeyValue::new("reason", reason)]);
        tracing::warn!(reason, "order failed: {message}");
        error(status, message)
    }

    async fn user(&self, id: u64) -> Result<Option<User>, Response> {
        let url = format!("{}/api/users/{id}", self.config.user_service);
        match call(self.client.get(url), "/api/users/{id}").await {
            Ok(reply) if reply.status == StatusCode::NOT_FOUND => Ok(None),
            Ok(reply) if reply.status.is_success() => match serde_json::from_value(reply.body) {
                Ok(user) => Ok(Some(user)),
                Err(_) => Err(self.fail(StatusCode::BAD_GATEWAY, "user_service", "bad user")),
            },
            Ok(_) | Err(_) => Err(self.fail(
                StatusCode::BAD_GATEWAY,
                "user_service",
                "user-service unavailable",
            )),
        }
    }

    /// Charges the order; `Err` is the response to give.
    async fn charge(&self, url: &str, order_id: u64, amount: f64) -> Result<(), Response> {
        let body = serde_json::json!({ "order_id": order_id, "amount": amount });
        let request = json_body(self.client.post(format!("{url}/api/payments")), &body);
        match call(request, "/api/payments").await {
            Ok(reply) if reply.status.is_success() => Ok(()),
            Ok(reply) if reply.status == StatusCode::PAYMENT_REQUIRED => Err(self.fail(
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                "payment declined",
            )),
            Ok(_) | Err(_) => Err(self.fail(
                StatusCode::BAD_GATEWAY,
                "payment_service",
                "payment-service unavailable",
            )),
        }
    }
}

async fn list(State(orders): State<Orders>) -> Response {
    match orders.store.read() {
        Ok(store) => Json(store.values().cloned().collect::<Vec<_>>()).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "store unavailable"),
    }
}

async fn find(State(orders): State<Orders>, Path(id): Path<u64>) -> Response {
    let found = orders.store.read().ok().and_then(|s| s.get(&id).cloned());
    let Some(order) = found else {
        return error(StatusCode::NOT_FOUND, "no such order");
    };
    match orders.user(order.user_id).await {
        Ok(user) => {
            tracing::info!(order_id = id, "order found");
            Json(serde_json::json!({ "order": order, "user": user })).into_response()
        }
        Err(response) => response,
    }
}

async fn create(State(orders): State<Orders>, Json(new): Json<NewOrder>) -> Response {
    if !(new.amount.is_finite() && new.amount > 0.0) {
        return orders.fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "amount must be positive",
        );
    }
    let user = match orders.user(new.user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return orders.fail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_user",
                "no such user",
            );
        }
        Err(response) => return response,
    };
    let id = orders.next.fetch_add(1, Ordering::Relaxed) + 1;
    let mut status = "created";
    if let Some(url) = orders.config.payment_service.clone() {
        if let Err(response) = orders.charge(&url, id, new.amount).await {
            return response;
        }
        status = "paid";
    }
    let order = Order {
        id,
        user_id: user.id,
        amount: new.amount,
        items: new.items,
        status: status.to_owned(),
    };
    if let Ok(mut store) = orders.store.write() {
        store.insert(id, order.clone());
    }
    orders.created.add(1, &[]);
    orders.value.record(order.amount, &[]);
    tracing::info!(order_id = id, user_id = user.id, status, "order placed");
    orders.publish(&order, &user).await;
    (StatusCode::CREATED, Json(order)).into_response()
}

impl Orders {
    /// Publishes the order's event; a failure is logged and counted, the
    /// order stays placed.
    async fn publish(&self, order: &Order, user: &User) {
        let event = OrderCreated {
            order_id: order.id,
            user_id: user.id,
            email: user.email.clone(),
            amount: order.amount,
        };
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        if let Err(e) = self.events.publish(&self.config.queue, payload).await {
            self.errors
                .add(1, &[KeyValue::new("reason", "event_not_published")]);
            tracing::error!(order_id = order.id, error = %e, "order event not published");
        }
    }
}
