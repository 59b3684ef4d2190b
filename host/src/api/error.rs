//! The crate's one error type and its mapping to HTTP: every error answers
//! `{"code": "...", "message": "..."}` with a fitting status. Bad input is a 4xx; only a
//! failure of krog itself (the database, a bug) is a 5xx, and its details go to the log, not
//! the client.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::runtime::{FailureKind, PluginFailure};

/// What can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed (bad JSON, wrong types).
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but its content is not acceptable.
    #[error("{0}")]
    Validation(String),
    /// No or an unknown API key.
    #[error("a valid API key is required: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// Authenticated, but only an admin key may do this.
    #[error("this needs an admin key")]
    Forbidden,
    /// Nothing with that id that this key may see.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The body is over the configured cap.
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// A configured quota (subscriptions, modules, secrets …) is used up.
    #[error("{0}")]
    Quota(String),
    /// Too many requests from this key (or dry runs at once): try again after this many
    /// seconds.
    #[error("{message}")]
    TooManyRequests {
        /// What was limited, and how to stay under it.
        message: String,
        /// Whole seconds until a retry may succeed (`Retry-After`).
        retry_after: u64,
    },
    /// A plugin module was refused or failed in a dry run.
    #[error(transparent)]
    Plugin(#[from] PluginFailure),
    /// The database failed.
    #[error("database error")]
    Database(#[from] crate::store::Error),
    /// Anything else that is krog's fault.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The result of a handler.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Error::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Error::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Error::Quota(_) => (StatusCode::CONFLICT, "quota_exceeded"),
            Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::Plugin(failure) if failure.kind == FailureKind::ModuleTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, failure.kind.as_str())
            }
            Error::Plugin(failure) => (StatusCode::UNPROCESSABLE_ENTITY, failure.kind.as_str()),
            Error::Database(_) | Error::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Error::Database(e) => {
                tracing::error!(error = ?e, "database error");
                self.to_string()
            }
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                self.to_string()
            }
            Error::Plugin(failure) => failure.message.clone(),
            _ => self.to_string(),
        };
        let retry_after = match &self {
            Error::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let mut response =
            (status, Json(json!({ "code": code, "message": message }))).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl Error {
    /// Maps a serde_json error of a request body: broken JSON is a 400, JSON of the wrong
    /// shape a 422.
    pub fn from_json_error(e: serde_json::Error) -> Self {
        match e.classify() {
            serde_json::error::Category::Data => Error::Validation(format!("invalid body: {e}")),
            _ => Error::BadRequest(format!("malformed JSON: {e}")),
        }
    }
}

impl From<crate::worker::Error> for Error {
    fn from(e: crate::worker::Error) -> Self {
        match e {
            crate::worker::Error::NoSuchTenant(tenant) => {
                Error::NotFound(format!("tenant {tenant}"))
            }
            crate::worker::Error::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::module::BadModuleName> for Error {
    fn from(e: crate::model::module::BadModuleName) -> Self {
        Error::Validation(e.to_string())
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest(rejection.body_text())
    }
}

/// Makes every error answer `{code, message}` JSON, also those made outside krog's handlers
/// (axum's 405 and its extractor rejections, tower-http's 413): a client parses one shape.
/// The console's pages (HTML) are left as they are.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let shaped = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if shaped {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let (code, fallback) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this route does not take that method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("payload_too_large", "the request body is over the limit")
        }
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long to arrive"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("bad_request", "unsupported content type"),
        s if s.is_server_error() => ("internal", "internal error"),
        _ => ("bad_request", "the request was refused"),
    };
    let message = if text.trim().is_empty() || status.is_server_error() {
        fallback.to_owned()
    } else {
        text.trim().to_owned()
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let body = serde_json::to_vec(&json!({ "code": code, "message": message })).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}
