//! `payment-service`: approves or declines a charge and has `audit-service`
//! record the decision.
//!
//! `POST /api/payments` (`{"order_id", "amount"}`): 201 approved, 402
//! declined (over the limit), 502 when the decision could not be audited.

use std::sync::Arc;

use axum::{
    Json, Router, extract::State, http::StatusCode, response::IntoResponse, response::Response,
    routing::post,
};
use o11y::Guard;
use reqwest_middleware::ClientWithMiddleware;
use serde::{Deserialize, Serialize};

use crate::{
    env::{EnvError, parse_or, url_or},
    service::{call, client, error, json_body, traced},
};

/// Where `payment-service` finds `audit-service`, and its limit.
#[derive(Clone, Debug)]
pub struct Config {
    /// `AUDIT_SERVICE_URL` (default `http://127.0.0.1:8084`).
    pub audit_service: String,
    /// `PAYMENT_LIMIT`: charges above it are declined (default 10000).
    pub limit: f64,
}

impl Config {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, EnvError> {
        Ok(Self {
            audit_service: url_or("AUDIT_SERVICE_URL", "http://127.0.0.1:8084"),
            limit: parse_or("PAYMENT_LIMIT", 10_000.0)?,
        })
    }
}

/// A charge to decide on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Charge {
    /// The order paid for.
    pub order_id: u64,
    /// How much.
    pub amount: f64,
}

#[derive(Clone)]
struct Payments {
    config: Arc<Config>,
    client: ClientWithMiddleware,
}

/// The service's routes, traced, with `/health` and `/metrics`.
pub fn router(config: Config, guard: &Guard) -> Router {
    let payments = Payments {
        config: Arc::new(config),
        client: client(guard),
    };
    let routes = Router::new()
        .route("/api/payments", post(charge))
        .with_state(payments);
    traced(routes, guard)
}

async fn charge(State(payments): State<Payments>, Json(charge): Json<Charge>) -> Response {
    let approved = charge.amount.is_finite() && charge.amount <= payments.config.limit;
    let action = if approved {
        "payment.approved"
    } else {
        "payment.declined"
    };
    let record = serde_json::json!({
        "action": action,
        "subject": format!("order:{}", charge.order_id),
        "amount": charge.amount,
    });
    let url = format!("{}/api/audit", payments.config.audit_service);
    match call(json_body(payments.client.post(url), &record), "/api/audit").await {
        Ok(reply) if reply.status.is_success() => {}
        _ => {
            tracing::error!(
                order_id = charge.order_id,
                action,
                "the decision could not be audited"
            );
            return error(StatusCode::BAD_GATEWAY, "audit-service unavailable");
        }
    }
    tracing::info!(
        order_id = charge.order_id,
        amount = charge.amount,
        action,
        "payment decided"
    );
    let status = if approved {
        StatusCode::CREATED
    } else {
        StatusCode::PAYMENT_REQUIRED
    };
    (
        status,
        Json(serde_json::json!({ "order_id": charge.order_id, "status": action })),
    )
        .into_response()
}
