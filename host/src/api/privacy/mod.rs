//! Personal data on request (DESIGN.md, "Personal data"): a tenant's retention setting
//! (`PATCH /v1/tenants/{t}`), erasure of one person's data (`POST /v1/tenants/{t}/erasures`),
//! deleting a tenant with all it owns (`DELETE /v1/tenants/{t}`), and an export of what is
//! stored about a tenant as JSON Lines (`GET /v1/tenants/{t}/export`). Retention itself runs in
//! the background ([`crate::worker::retention`]).
//!
//! Erased means gone from the database files too, as far as krog can see to it: on SQLite every
//! connection runs with `secure_delete` (freed space is zeroed) and an erasure ends with a
//! checkpoint that truncates the WAL; on PostgreSQL an erasure is followed by a `VACUUM` of the
//! tables it touched.

mod erasure;
mod export;

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{Error, Result};
use crate::api::extract::{Json, Path};
use crate::api::openapi::TenantPath;
use crate::api::tenants::Tenant;
use crate::state::AppState;
use crate::store::privacy::ErasureRow;
use crate::store::{self, rfc3339};
use erasure::Key;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update_tenant, delete_tenant))
        .routes(routes!(erase, list_erasures))
        .routes(routes!(export))
}

/// Rows changed per transaction by an erasure or a tenant deletion: each transaction is short,
/// so the group-commit writer (deliveries) gets its turn in between.
const BATCH: i64 = 500;

// ---------------------------------------------------------------------------------------------
// Retention settings

/// A retention as given in the API or configuration (`"30d"`, `"12h"`), in milliseconds.
pub fn parse_retention(text: &str) -> Result<i64> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| Error::Validation(format!("retention {text:?}: {e}")))?;
    if duration < Duration::from_secs(1) || duration > Duration::from_secs(100 * 365 * 86_400) {
        return Err(Error::Validation(format!(
            "retention {text:?} must be between 1s and 100 years"
        )));
    }
    Ok(duration.as_millis() as i64)
}

/// A retention as the API shows it: the largest whole unit (`"30d"`, `"36h"`, `"1s"`).
pub fn format_retention(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Serializes a tenant's own retention (`null`: the installation's default).
pub fn serialize_retention<S: serde::Serializer>(
    ms: &Option<i64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_retention(*ms)),
        None => s.serialize_none(),
    }
}

/// Deserializes a present field, `null` included, as `Some`: with `#[serde(default)]` an absent
/// field stays `None`, so `{"retention": null}` (back to the default) differs from `{}`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A change to a tenant: absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"retention": "7d"}))]
pub(crate) struct TenantChange {
    /// A new name (admin only).
    name: Option<String>,
    /// How long payloads are kept (`"7d"`); `null`: back to the installation's `KROG_RETENTION`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    retention: Option<Option<String>>,
}

/// `PATCH /v1/tenants/{t}`: the retention (the tenant itself may set it: it is the clinic's
/// decision as controller of the data) and the name (admin only).
/// Changes a tenant's retention (the tenant's own key may) or name (admin).
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", operation_id = "update_tenant",
    tag = "tenants", params(TenantPath), request_body = TenantChange,
    responses((status = 200, description = "The tenant as changed", body = crate::api::tenants::Tenant)))]
async fn update_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(change): Json<TenantChange>,
) -> Result<axum::Json<Tenant>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    if let Some(name) = &change.name {
        caller.require_admin()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(Error::Validation("name must be 1 to 200 characters".into()));
        }
        crate::store::check_plain_text("name", name).map_err(Error::Validation)?;
        store::tenants::set_name(&state.db, &tenant, name).await?;
    }
    if let Some(retention) = &change.retention {
        let ms = retention.as_deref().map(parse_retention).transpose()?;
        store::tenants::set_retention(&state.db, &tenant, ms).await?;
    }
    state.directory.invalidate();
    let row = store::tenants::one(&state.db, &tenant)
        .await?
        .ok_or_else(|| Error::NotFound(format!("tenant {tenant}")))?;
    Ok(axum::Json(row.into()))
}

// ---------------------------------------------------------------------------------------------
// Erasure

/// What identifies the person: exactly one of the three.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_email": "mette@example.dk"}))]
pub(crate) struct ErasureRequest {
    /// Every event of this booking.
    booking_id: Option<String>,
    /// Every booking whose client has this email (case does not matter).
    client_email: Option<String>,
    /// Every booking whose client has this phone number (its digits are compared).
    client_phone: Option<String>,
}

/// An erasure as recorded and shown: what kind of key, when, and how much was removed. Never
/// the value.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erasure {
    /// The erasure's id.
    id: String,
    /// What identified the person: `booking_id`, `client_email` or `client_phone`.
    #[serde(rename = "key")]
    key_kind: String,
    /// Events whose booking data was deleted.
    events: i64,
    /// Deliveries whose stored request (transformed body, headers) was deleted.
    deliveries: i64,
    /// Attempts whose stored answer excerpt or error was deleted.
    attempts: i64,
    /// Pending deliveries of the erased events that will not be sent.
    cancelled_deliveries: i64,
    /// RFC 3339.
    #[serde(serialize_with = "as_rfc3339")]
    #[schema(value_type = String)]
    created_at: i64,
}

/// The erasures, all on one page.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErasureList {
    /// Every erasure, oldest first.
    data: Vec<Erasure>,
    /// Always null: listed whole.
    next_cursor: Option<String>,
}

fn as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

impl From<ErasureRow> for Erasure {
    fn from(row: ErasureRow) -> Erasure {
        Erasure {
            id: row.id,
            key_kind: row.key_kind,
            events: row.events,
            deliveries: row.deliveries,
            attempts: row.attempts,
            cancelled_deliveries: row.cancelled_deliveries,
            created_at: row.created_at,
        }
    }
}

/// `POST /v1/tenants/{t}/erasures`: removes every stored copy of one person's data — the
/// bookings (by parsed id, email or phone, or the value anywhere in them), every delivery of
/// those bookings (body and headers), and any other body, skip reason, answer excerpt or error
/// that contains the value — cancels pending deliveries of those bookings, and records counts.
/// Erases one person's data, by booking id, client email or client phone (exactly one).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/erasures", operation_id = "create_erasure",
    tag = "personal data", params(TenantPath), request_body = ErasureRequest,
    responses((status = 201, description = "What was erased, counted; never the value", body = Erasure)))]
async fn erase(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(request): Json<ErasureRequest>,
) -> Result<(StatusCode, axum::Json<Erasure>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let key = Key::from_request(request)?;
    let record = erasure::run(&state, &tenant, &key).await?;
    metrics::counter!("krog_erasures_total").increment(1);
    tracing::info!(tenant = %tenant, erasure = %record.id, kind = record.key_kind, events = record.events,
        deliveries = record.deliveries, attempts = record.attempts,
        cancelled = record.cancelled_deliveries, "erasure done");
    store::privacy::scrub_files(&state.db).await;
    Ok((StatusCode::CREATED, axum::Json(record.into())))
}

/// Lists the erasures done (counts, never the value).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/erasures", operation_id = "list_erasures",
    tag = "personal data", params(TenantPath),
    responses((status = 200, description = "The erasures", body = ErasureList)))]
async fn list_erasures(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<axum::Json<ErasureList>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let rows = store::privacy::erasures(&state.db, &tenant).await?;
    Ok(axum::Json(ErasureList {
        data: rows.into_iter().map(Erasure::from).collect(),
        next_cursor: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// Deleting a tenant

/// `DELETE /v1/tenants/{t}` (admin): the tenant and everything it owns. Keys and subscriptions
/// go first, in one transaction, so that nothing new arrives; then deliveries (their attempts
/// by cascade) and events in batches, so that a large tenant never holds the database in one
/// long transaction; then its modules (and their bytes unless another owner uses them), and
/// the tenant row, whose cascade takes whatever arrived in between.
/// Deletes a tenant and everything it owns (admin).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", operation_id = "delete_tenant",
    tag = "tenants", params(TenantPath),
    responses((status = 204, description = "Deleted")))]
async fn delete_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<StatusCode> {
    caller.require_admin()?;
    if store::tenants::one(&state.db, &tenant).await?.is_none() {
        return Err(Error::NotFound(format!("tenant {tenant}")));
    }
    store::privacy::delete_tenant(&state.db, &tenant, BATCH, || {
        state.directory.invalidate();
    })
    .await?;
    state.directory.invalidate();
    tracing::info!(tenant = %tenant, "tenant deleted with everything it owned");
    store::privacy::scrub_files(&state.db).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Export

/// `GET /v1/tenants/{t}/export`: everything stored about the tenant, as JSON Lines, one object
/// per line with a `kind` (`tenant`, `subscription`, `module`, `event`, `delivery` with its
/// attempts, `erasure`, and a last `end` line with the counts — a file without it was cut
/// short). Signing secrets and module bytes are left out. Streamed a page at a time, so a
/// large tenant is never held in memory; each page is read on its own, so rows that change
/// while the export runs appear as they were when their page was read.
/// Everything stored about the tenant, as JSON Lines: one object per line, each with its `kind`.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/export", operation_id = "export_tenant",
    tag = "personal data", params(TenantPath),
    responses((status = 200, description = "JSON Lines", content_type = "application/x-ndjson", body = String)))]
async fn export(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response> {
    caller.require_tenant(&state.directory, &tenant).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        export::stream(state.db.clone(), tenant),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_reads_back_in_its_largest_whole_unit() {
        assert_eq!(format_retention(parse_retention("30d").unwrap()), "30d");
        assert_eq!(format_retention(parse_retention("36h").unwrap()), "36h");
        assert_eq!(format_retention(parse_retention("1s").unwrap()), "1s");
        assert!(parse_retention("10ms").is_err());
        assert!(parse_retention("soon").is_err());
    }
}
