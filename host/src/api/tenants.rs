//! Tenants and their API keys (admin only).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{Error, Result};
use crate::api::extract::{Json, Query};
use crate::api::pagination::{Page, PageQuery};
use crate::state::AppState;
use crate::store::tenants::TenantRow;
use crate::store::{self, new_id, now_ms};

/// The tenant routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create, list))
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "klinik", "name": "Klinik Nørrebro", "retention": "30d"}))]
pub struct Tenant {
    /// The tenant's slug, used in every route under `/v1/tenants/{tenant}`.
    pub(crate) id: String,
    /// A name for people.
    pub(crate) name: String,
    /// The tenant's own retention (`"7d"`); null: the installation's `KROG_RETENTION`.
    #[serde(
        rename = "retention",
        serialize_with = "crate::api::privacy::serialize_retention"
    )]
    #[schema(value_type = Option<String>)]
    pub(crate) retention_ms: Option<i64>,
}

impl From<TenantRow> for Tenant {
    fn from(row: TenantRow) -> Tenant {
        Tenant {
            id: row.id,
            name: row.name,
            retention_ms: row.retention_ms,
        }
    }
}

/// A new tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "klinik", "name": "Klinik Nørrebro"}))]
pub(crate) struct NewTenant {
    /// Optional slug; generated when absent.
    id: Option<String>,
    name: String,
    /// How long this tenant's payloads are kept (`"7d"`); absent: `KROG_RETENTION`.
    retention: Option<String>,
}

/// Creates a tenant (admin).
#[utoipa::path(post, path = "/v1/tenants", operation_id = "create_tenant", tag = "tenants",
    request_body = NewTenant,
    responses((status = 201, description = "The tenant", body = Tenant)))]
async fn create(
    caller: Caller,
    axum::extract::State(state): axum::extract::State<AppState>,
    Json(new): Json<NewTenant>,
) -> Result<(StatusCode, axum::Json<Tenant>)> {
    caller.require_admin()?;
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::Validation("name must be 1 to 200 characters".into()));
    }
    crate::store::check_plain_text("name", name).map_err(Error::Validation)?;
    let id = match new.id {
        Some(id) if is_slug(&id) => id,
        Some(id) => {
            return Err(Error::Validation(format!(
                "tenant id {id:?} must be 1 to 64 of a-z, 0-9, - and _"
            )));
        }
        None => new_id("ten"),
    };
    let retention_ms = new
        .retention
        .as_deref()
        .map(crate::api::privacy::parse_retention)
        .transpose()?;
    let row = TenantRow {
        id,
        name: name.to_owned(),
        retention_ms,
    };
    let inserted = store::tenants::insert(&state.db, &row, now_ms()).await;
    state.directory.invalidate();
    if !inserted? {
        return Err(Error::Conflict(format!("tenant {} already exists", row.id)));
    }
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// Lists tenants (admin).
#[utoipa::path(get, path = "/v1/tenants", operation_id = "list_tenants", tag = "tenants",
    params(PageQuery),
    responses((status = 200, description = "A page of tenants", body = Page<Tenant>)))]
async fn list(
    caller: Caller,
    axum::extract::State(state): axum::extract::State<AppState>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<Tenant>>> {
    caller.require_admin()?;
    let limit = page.limit();
    let rows: Vec<Tenant> =
        store::tenants::list(&state.db, page.after.as_deref().unwrap_or(""), limit + 1)
            .await?
            .into_iter()
            .map(Tenant::from)
            .collect();
    Ok(axum::Json(Page::new(rows, limit, |t| t.id.clone())))
}

/// `[a-z0-9_-]{1,64}`: ids and names that are safe in URLs and logs.
pub fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
