//! `GET /openapi.json`: the API's OpenAPI document.

use axum::Json;

/// The document.
pub async fn document() -> Json<serde_json::Value> {
    Json(serde_json::json!({"openapi": "3.1.0", "info": {"title": "krog", "version": env!("CARGO_PKG_VERSION")}, "paths": {}}))
}
