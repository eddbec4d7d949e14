//! Calling another service.

use http::StatusCode;
use o11y::http::ClientRoute;
use reqwest_middleware::ClientWithMiddleware;

/// One peer service, called through the instrumented client.
#[derive(Clone, Debug)]
pub struct Peer {
    base: String,
    client: ClientWithMiddleware,
}

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The peer answered with an error status.
    #[error("{status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The body, for the log.
        body: String,
    },
    /// No answer within the call timeout.
    #[error("timed out")]
    Timeout,
    /// The peer could not be reached.
    #[error("unreachable: {0}")]
    Unreachable(String),
}

impl Peer {
    /// A peer at `base` (`http://host:port`).
    pub fn new(base: &str, client: ClientWithMiddleware) -> Self {
        Self {
            base: base.to_owned(),
            client,
        }
    }

    /// `GET {base}{path}`; `route` names the span (`GET /process`).
    pub async fn get(&self, route: &'static str, path: &str) -> Result<String, CallError> {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .with_extension(ClientRoute(route));
        let response = request.send().await.map_err(|e| match e.is_timeout() {
            true => CallError::Timeout,
            false => CallError::Unreachable(e.to_string()),
        })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| match e.is_timeout() {
            true => CallError::Timeout,
            false => CallError::Unreachable(e.to_string()),
        })?;
        match status.is_success() {
            true => Ok(body),
            false => Err(CallError::Status { status, body }),
        }
    }
}
