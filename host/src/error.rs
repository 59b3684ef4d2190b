//! The crate's one error type and its mapping to HTTP: every error answers
//! `{"code": "...", "message": "..."}` with a fitting status. Bad input is a 4xx; only a
//! failure of krog itself (the database, a bug) is a 5xx, and its details go to the log, not
//! the client.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::runtime::PluginFailure;

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
    /// A plugin module was refused or failed in a dry run.
    #[error(transparent)]
    Plugin(#[from] PluginFailure),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
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
        (status, Json(json!({ "code": code, "message": message }))).into_response()
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
