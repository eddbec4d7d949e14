//! The ways a request can fail on purpose, and how each is answered.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use o11y::opentelemetry::{Context, KeyValue, trace::TraceContextExt};

/// A failure a handler answers with: a status code, an `exception` event on
/// the request's span and one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// An unexpected error (500).
    Internal,
    /// Something this service waited for took too long (504).
    Timeout,
    /// The database refused (503).
    Database,
    /// Out of memory for this request (507).
    Memory,
    /// The caller is not authenticated (401).
    Auth,
    /// The caller sends too much (429).
    RateLimit,
    /// A service this one depends on failed (502).
    Dependency,
}

impl Failure {
    /// The response status.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Database => StatusCode::SERVICE_UNAVAILABLE,
            Self::Memory => StatusCode::INSUFFICIENT_STORAGE,
            Self::Auth => StatusCode::UNAUTHORIZED,
            Self::RateLimit => StatusCode::TOO_MANY_REQUESTS,
            Self::Dependency => StatusCode::BAD_GATEWAY,
        }
    }

    /// The `exception.type` of the event.
    pub fn exception_type(self) -> &'static str {
        match self {
            Self::Internal => "InternalError",
            Self::Timeout => "TimeoutError",
            Self::Database => "DatabaseError",
            Self::Memory => "MemoryError",
            Self::Auth => "AuthenticationError",
            Self::RateLimit => "RateLimitError",
            Self::Dependency => "DependencyError",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Internal => "something went wrong",
            Self::Timeout => "the upstream did not answer in time",
            Self::Database => "database connection refused",
            Self::Memory => "not enough memory for this request",
            Self::Auth => "missing or invalid credentials",
            Self::RateLimit => "too many requests",
            Self::Dependency => "a dependency failed",
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (kind, message) = (self.exception_type(), self.message());
        Context::current().span().add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", kind),
                KeyValue::new("exception.message", message),
            ],
        );
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error.type = kind, status = status.as_u16(), "{message}");
        } else {
            tracing::warn!(error.type = kind, status = status.as_u16(), "{message}");
        }
        let body = serde_json::json!({ "error": kind, "message": message });
        (status, axum::Json(body)).into_response()
    }
}

/// A failed call to a peer, logged, as this service's own failure (502).
pub(crate) fn failed(error: crate::CallError) -> Failure {
    tracing::warn!(%error, "a call failed");
    Failure::Dependency
}
