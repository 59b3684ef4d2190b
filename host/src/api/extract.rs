//! Request extractors whose rejections are krog's JSON errors rather than axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::api::error::Error;
use crate::state::AppState;

/// A JSON body. Unlike `axum::Json` it does not insist on a `Content-Type` (booking systems
/// are not always careful), and its rejections are JSON: 400 for broken JSON, 422 for the
/// wrong shape, 413 over the body cap.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        let bytes = body_bytes(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(Error::from_json_error)
    }
}

/// A body of any content, read under the configured cap, rejecting with krog's JSON errors.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        body_bytes(req, state).await.map(RawBody)
    }
}

/// Reads the whole body under the configured cap.
pub async fn body_bytes(req: Request, state: &AppState) -> Result<Bytes, Error> {
    let limit = state.config.max_body_bytes;
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge(limit)
        } else {
            Error::BadRequest(rejection.body_text())
        }
    })
}

/// `axum::extract::Path`, rejecting with a JSON 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

/// `axum::extract::Query`, rejecting with a JSON 400.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(value))
    }
}
