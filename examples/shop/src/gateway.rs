//! `api-gateway`: the shop's entry point. Forwards `/api/users` to
//! `user-service` and `/api/orders` to `order-service`, sends
//! `POST /api/orders/validate` to the `order-validator` function, and
//! offers `POST /api/checkout` (`{"name", "email", "amount", "items"}`):
//! register, then order, in one request. Metrics: `gateway_requests_total`
//! and `gateway_errors_total` (5xx answers), by route.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{MatchedPath, Path, Request, State},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use o11y::{
    Guard,
    opentelemetry::{KeyValue, metrics::Counter},
};
use reqwest_middleware::{ClientWithMiddleware, RequestBuilder};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    env::url_or,
    service::{Reply, call, client, error, json_body, meter, traced},
};

/// Where the gateway finds the services behind it.
#[derive(Clone, Debug)]
pub struct Config {
    /// `USER_SERVICE_URL` (default `http://127.0.0.1:8081`).
    pub user_service: String,
    /// `ORDER_SERVICE_URL` (default `http://127.0.0.1:8082`).
    pub order_service: String,
    /// `VALIDATOR_URL` (default `http://127.0.0.1:8086`).
    pub validator: String,
}

impl Config {
    /// Reads the variables.
    pub fn from_env() -> Self {
        Self {
            user_service: url_or("USER_SERVICE_URL", "http://127.0.0.1:8081"),
            order_service: url_or("ORDER_SERVICE_URL", "http://127.0.0.1:8082"),
            validator: url_or("VALIDATOR_URL", "http://127.0.0.1:8086"),
        }
    }
}

#[derive(Clone)]
struct Gateway {
    config: Arc<Config>,
    client: ClientWithMiddleware,
    requests: Counter<u64>,
    errors: Counter<u64>,
}

/// The gateway's routes, traced, with `/health` and `/metrics`.
pub fn router(config: Config, guard: &Guard) -> Router {
    let meter = meter(guard);
    let gateway = Gateway {
        config: Arc::new(config),
        client: client(guard),
        requests: meter
            .u64_counter("gateway.requests")
            .with_description("Requests the gateway answered, by route")
            .build(),
        errors: meter
            .u64_counter("gateway.errors")
            .with_description("Requests the gateway answered with a 5xx, by route")
            .build(),
    };
    let routes = Router::new()
        .route("/api/users", get(list_users).post(register))
        .route("/api/users/{id}", get(user))
        .route("/api/orders", get(list_orders).post(order))
        .route("/api/orders/{id}", get(find_order))
        .route("/api/orders/validate", post(validate))
        .route("/api/checkout", post(checkout))
        .route_layer(middleware::from_fn_with_state(gateway.clone(), count))
        .with_state(gateway);
    traced(routes, guard)
}

/// Counts every answer, and the 5xx ones as errors.
async fn count(State(gateway): State<Gateway>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let attrs = [KeyValue::new("route", route)];
    gateway.requests.add(1, &attrs);
    if response.status().is_server_error() {
        gateway.errors.add(1, &attrs);
    }
    response
}

impl Gateway {
    /// Sends `request` to a service and relays its answer; 502 when it
    /// cannot be reached.
    async fn relay(&self, request: RequestBuilder, route: &'static str) -> Response {
        match call(request, route).await {
            Ok(reply) => reply.into_response(),
            Err(e) => {
                tracing::error!(route, error = %e, "upstream unavailable");
                error(StatusCode::BAD_GATEWAY, "upstream unavailable")
            }
        }
    }

    fn users(&self, path: &str) -> String {
        format!("{}{path}", self.config.user_service)
    }

    fn orders(&self, path: &str) -> String {
        format!("{}{path}", self.config.order_service)
    }
}

async fn list_users(State(g): State<Gateway>) -> Response {
    g.relay(g.client.get(g.users("/api/users")), "/api/users")
        .await
}

async fn user(State(g): State<Gateway>, Path(id): Path<u64>) -> Response {
    tracing::info!(user_id = id, "looking up a user");
    let url = g.users(&format!("/api/users/{id}"));
    g.relay(g.client.get(url), "/api/users/{id}").await
}

async fn register(State(g): State<Gateway>, Json(body): Json<Value>) -> Response {
    let request = json_body(g.client.post(g.users("/api/users")), &body);
    g.relay(request, "/api/users").await
}

async fn list_orders(State(g): State<Gateway>) -> Response {
    g.relay(g.client.get(g.orders("/api/orders")), "/api/orders")
        .await
}

async fn find_order(State(g): State<Gateway>, Path(id): Path<u64>) -> Response {
    let url = g.orders(&format!("/api/orders/{id}"));
    g.relay(g.client.get(url), "/api/orders/{id}").await
}

async fn order(State(g): State<Gateway>, Json(body): Json<Value>) -> Response {
    tracing::info!("placing an order");
    let request = json_body(g.client.post(g.orders("/api/orders")), &body);
    g.relay(request, "/api/orders").await
}

async fn validate(State(g): State<Gateway>, Json(body): Json<Value>) -> Response {
    tracing::info!("validating an order");
    let url = format!("{}/validate", g.config.validator);
    g.relay(json_body(g.client.post(url), &body), "/validate")
        .await
}

/// A registration and an order in one request.
#[derive(Debug, Deserialize)]
struct Checkout {
    name: String,
    email: String,
    amount: f64,
    #[serde(default)]
    items: Vec<String>,
}

async fn checkout(State(g): State<Gateway>, Json(checkout): Json<Checkout>) -> Response {
    let new_user = serde_json::json!({ "name": checkout.name, "email": checkout.email });
    let request = json_body(g.client.post(g.users("/api/users")), &new_user);
    let user = match call(request, "/api/users").await {
        Ok(reply) if reply.status == StatusCode::CREATED => reply.body,
        Ok(reply) => return reply.into_response(),
        Err(_) => return error(StatusCode::BAD_GATEWAY, "user-service unavailable"),
    };
    let Some(user_id) = user["id"].as_u64() else {
        return error(
            StatusCode::BAD_GATEWAY,
            "user-service answered without an id",
        );
    };
    tracing::info!(user_id, "registered; placing the order");
    let new_order = serde_json::json!({
        "user_id": user_id, "amount": checkout.amount, "items": checkout.items,
    });
    let request = json_body(g.client.post(g.orders("/api/orders")), &new_order);
    match call(request, "/api/orders").await {
        Ok(Reply { status, body }) if status == StatusCode::CREATED => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "user": user, "order": body })),
        )
            .into_response(),
        Ok(reply) => reply.into_response(),
        Err(_) => error(StatusCode::BAD_GATEWAY, "order-service unavailable"),
    }
}
