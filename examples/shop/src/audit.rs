//! `audit-service`: writes audit rows to PostgreSQL, each with the trace id
//! and correlation id of the request that caused it; every statement is a
//! database CLIENT span ([`o11y::db`]).
//!
//! `POST /api/audit` (`{"action", "subject", "amount"}`, 201 with the row's
//! `id` and `trace_id`), `GET /api/audit/{id}`.

use std::{str::FromStr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use o11y::{Guard, db::Db};
use serde::{Deserialize, Serialize};
use tokio_postgres::{NoTls, config::Host};

use crate::{
    env::{EnvError, env_or},
    service::{error, traced},
};

/// Where the rows go.
#[derive(Clone, Debug)]
pub struct Config {
    /// `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
    pub database_url: String,
    /// `AUDIT_TABLE` (default `audit_log`): lowercase letters, digits, `_`.
    pub table: String,
}

impl Config {
    /// Reads the variables.
    pub fn from_env() -> Result<Self, EnvError> {
        let table = env_or("AUDIT_TABLE", "audit_log");
        if !is_table_name(&table) {
            return Err(EnvError {
                name: "AUDIT_TABLE",
                value: table,
                reason: "a table name is lowercase letters, digits and _".to_owned(),
            });
        }
        Ok(Self {
            database_url: env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
            table,
        })
    }
}

/// Whether `name` can be written into SQL as a table name as it is: 1 to
/// 63 lowercase letters, digits and `_`, not starting with a digit.
fn is_table_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The database could not be used.
#[derive(Debug, thiserror::Error)]
#[error("audit database: {0}")]
pub struct AuditError(String);

/// A row of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// What happened: `payment.approved`, ...
    pub action: String,
    /// What it happened to: `order:42`, ...
    pub subject: String,
    /// An amount, when there is one.
    #[serde(default)]
    pub amount: Option<f64>,
}

/// The connection and the statements of the audit log.
#[derive(Clone)]
pub struct Store {
    client: Arc<tokio_postgres::Client>,
    db: Db,
    table: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// The SQLSTATE of a database error, for its span.
fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_owned())
}

impl Store {
    /// Connects (within 5 s) and creates the table when it is missing.
    pub async fn connect(config: &Config, guard: &Guard) -> Result<Self, AuditError> {
        let pg = tokio_postgres::Config::from_str(&config.database_url)
            .map_err(|e| AuditError(format!("DATABASE_URL: {e}")))?;
        let mut db = Db::new("postgresql");
        if let Some(provider) = guard.tracer_provider() {
            db = db.tracer_provider(&provider);
        }
        if let Some(name) = pg.get_dbname() {
            db = db.namespace(name);
        }
        if let (Some(Host::Tcp(host)), Some(port)) =
            (pg.get_hosts().first(), pg.get_ports().first())
        {
            db = db.server(host.clone(), *port);
        }
        let connect = pg.connect(NoTls);
        let (client, connection) = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .map_err(|_| AuditError("connect timed out".to_owned()))?
            .map_err(|e| AuditError(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "audit database connection lost");
            }
        });
        let store = Self {
            client: Arc::new(client),
            db,
            table: config.table.clone(),
        };
        store.create_table().await?;
        Ok(store)
    }

    async fn create_table(&self) -> Result<(), AuditError> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (id BIGSERIAL PRIMARY KEY, action TEXT NOT NULL, \
             subject TEXT NOT NULL, amount DOUBLE PRECISION, trace_id TEXT, correlation_id TEXT, \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            self.table
        );
        self.db
            .query(&sql)
            .operation("CREATE TABLE")
            .collection(&self.table)
            .run_with_code(self.client.batch_execute(&sql), sqlstate)
            .await
            .map_err(|e| AuditError(e.to_string()))
    }

    /// Writes `record` with the current trace and correlation ids; returns
    /// the row's id.
    pub async fn insert(&self, record: &Record) -> Result<i64, tokio_postgres::Error> {
        let trace_id = o11y::current_trace_id().map(|t| t.to_string());
        let correlation_id = o11y::current_correlation_id().map(|c| c.as_str().to_owned());
        let sql = format!(
            "INSERT INTO {} (action, subject, amount, trace_id, correlation_id) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            self.table
        );
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &record.action,
            &record.subject,
            &record.amount,
            &trace_id,
            &correlation_id,
        ];
        let row = self
            .db
            .query(&sql)
            .operation("INSERT")
            .collection(&self.table)
            .run_with_code(self.client.query_one(&sql, &params), sqlstate)
            .await?;
        row.try_get(0)
    }

    /// The row `id`, with its trace id.
    pub async fn find(&self, id: i64) -> Result<Option<serde_json::Value>, tokio_postgres::Error> {
        let sql = format!(
            "SELECT action, subject, amount, trace_id, correlation_id FROM {} WHERE id = $1",
            self.table
        );
        let row = self
            .db
            .query(&sql)
            .operation("SELECT")
            .collection(&self.table)
            .run_with_code(self.client.query_opt(&sql, &[&id]), sqlstate)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(serde_json::json!({
            "id": id,
            "action": row.try_get::<_, String>(0)?,
            "subject": row.try_get::<_, String>(1)?,
            "amount": row.try_get::<_, Option<f64>>(2)?,
            "trace_id": row.try_get::<_, Option<String>>(3)?,
            "correlation_id": row.try_get::<_, Option<String>>(4)?,
        })))
    }
}

/// The service's routes on `store`, traced, with `/health` and `/metrics`.
pub fn router(store: Store, guard: &Guard) -> Router {
    let routes = Router::new()
        .route("/api/audit", post(create))
        .route("/api/audit/{id}", get(find))
        .with_state(store);
    traced(routes, guard)
}

async fn create(State(store): State<Store>, Json(record): Json<Record>) -> Response {
    match store.insert(&record).await {
        Ok(id) => {
            tracing::info!(audit_id = id, action = %record.action, "audit row written");
            let trace_id = o11y::current_trace_id().map(|t| t.to_string());
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": id, "trace_id": trace_id })),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "audit row not written");
            error(StatusCode::SERVICE_UNAVAILABLE, "audit log unavailable")
        }
    }
}

async fn find(State(store): State<Store>, Path(id): Path<i64>) -> Response {
    match store.find(id).await {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such audit row"),
        Err(e) => {
            tracing::error!(error = %e, "audit row not read");
            error(StatusCode::SERVICE_UNAVAILABLE, "audit log unavailable")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_table_name;

    #[test]
    fn only_plain_table_names_reach_the_sql() {
        for good in ["audit_log", "_t", "shop_a4_12_345"] {
            assert!(is_table_name(good), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "1abc",
            "Audit",
            "audit log",
            "t;drop table x",
            "t\"",
            "é",
            &long,
        ] {
            assert!(!is_table_name(bad), "{bad}");
        }
    }
}
