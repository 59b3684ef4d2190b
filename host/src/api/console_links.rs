//! Login links to the console: the booking system asks for one with the tenant's key (or an
//! admin key) and puts it behind its "Webhooks" button. A link opens a console session for that
//! tenant once, within [`LINK_LIFETIME`]; only its hash is stored.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::{Caller, generate_key, hash_key};
use crate::api::error::Result;
use crate::api::extract::Path;
use crate::api::openapi::TenantPath;
use crate::state::AppState;
use crate::store::{self, now_ms, rfc3339};

/// How long a login link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The console-link route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}

/// A new login link.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"url": "https://krog.example.dk/console/login?token=krog_5f0c…",
    "expires_at": "2026-12-03T14:15:00Z"}))]
pub struct ConsoleLink {
    /// Opens the console for this tenant, once.
    pub url: String,
    /// RFC 3339: the link stops working at this time.
    pub expires_at: String,
}

/// Creates a login link to the console for this tenant: single use, for 15 minutes.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/console-links", operation_id = "create_console_link",
    tag = "console", params(TenantPath),
    responses((status = 201, description = "The link, shown once", body = ConsoleLink)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<(StatusCode, axum::Json<ConsoleLink>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let token = generate_key();
    let now = now_ms();
    let expires_at = now + LINK_LIFETIME.as_millis() as i64;
    store::console::insert_link(&state.db, &hash_key(&token), &tenant, now, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ConsoleLink {
            url: format!("{}/console/login?token={token}", state.public_url),
            expires_at: rfc3339(expires_at),
        }),
    ))
}
