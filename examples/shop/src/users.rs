//! `user-service`: users in memory.
//!
//! `GET /api/users`, `POST /api/users` (`{"name", "email"}`, 201),
//! `GET /api/users/{id}` (404 when unknown). Metric: `users_created_total`.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use o11y::{Guard, opentelemetry::metrics::Counter};
use serde::{Deserialize, Serialize};

use crate::service::{error, meter, traced};

/// A user of the shop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Assigned by the service, from 1.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Where notifications go.
    pub email: String,
}

/// A registration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewUser {
    /// Display name, not empty.
    pub name: String,
    /// Must contain `@`.
    pub email: String,
}

#[derive(Clone)]
struct Users {
    store: Arc<RwLock<BTreeMap<u64, User>>>,
    created: Counter<u64>,
}

/// The service's routes, traced, with `/health` and `/metrics`.
pub fn router(guard: &Guard) -> Router {
    let users = Users {
        store: Arc::default(),
        created: meter(guard)
            .u64_counter("users.created")
            .with_description("Users registered")
            .build(),
    };
    let routes = Router::new()
        .route("/api/users", get(list).post(create))
        .route("/api/users/{id}", get(find))
        .with_state(users);
    traced(routes, guard)
}

async fn list(State(users): State<Users>) -> Response {
    match users.store.read() {
        Ok(store) => Json(store.values().cloned().collect::<Vec<_>>()).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "store unavailable"),
    }
}

async fn find(State(users): State<Users>, Path(id): Path<u64>) -> Response {
    let found = users.store.read().ok().and_then(|s| s.get(&id).cloned());
    match found {
        Some(user) => {
            tracing::info!(user_id = id, "user found");
            Json(user).into_response()
        }
        None => {
            tracing::info!(user_id = id, "no such user");
            error(StatusCode::NOT_FOUND, "no such user")
        }
    }
}

async fn create(State(users): State<Users>, Json(new): Json<NewUser>) -> Response {
    if new.name.trim().is_empty() || !new.email.contains('@') {
        tracing::warn!("registration refused: a name and an email are required");
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "a name and an email are required",
        );
    }
    let Ok(mut store) = users.store.write() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "store unavailable");
    };
    let id = store.keys().next_back().map_or(1, |last| last + 1);
    let user = User {
        id,
        name: new.name,
        email: new.email,
    };
    store.insert(id, user.clone());
    drop(store);
    users.created.add(1, &[]);
    tracing::info!(user_id = id, "user registered");
    (StatusCode::CREATED, Json(user)).into_response()
}
