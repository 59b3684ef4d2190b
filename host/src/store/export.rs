//! The export's reads: everything stored about a tenant, a page at a time.

use super::{Db, Result};

/// A subscription as exported (never its secrets).
#[derive(sqlx::FromRow)]
pub struct SubscriptionRow {
    /// The id.
    pub id: String,
    /// The destination.
    pub url: String,
    /// Event types, as a JSON array.
    pub event_types: String,
    /// The transform, as JSON.
    pub transform: Option<String>,
    /// 1 when enabled.
    pub enabled: i64,
    /// Free text.
    pub description: String,
    /// Why it is stopped (`paused`, `gone`, `failing`), while it is.
    pub disabled_reason: Option<String>,
    /// When it was stopped (ms), while it is.
    pub disabled_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
    /// Changed (ms).
    pub updated_at: i64,
}

/// A module version as exported (never its bytes).
#[derive(sqlx::FromRow)]
pub struct ModuleRow {
    /// The name.
    pub name: String,
    /// The version.
    pub version: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// The plugin's info, as JSON.
    pub info: String,
    /// Uploaded (ms).
    pub created_at: i64,
}

/// An event as exported.
#[derive(sqlx::FromRow)]
pub struct EventRow {
    /// The id.
    pub id: String,
    /// Its type.
    pub event_type: String,
    /// Its timestamp.
    pub timestamp: String,
    /// The booking JSON.
    pub data: String,
    /// Received (ms).
    pub created_at: i64,
    /// Why its payload was deleted.
    pub payload_deleted_note: Option<String>,
}

/// A delivery as exported.
#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    /// The id.
    pub id: String,
    /// Its event.
    pub event_id: String,
    /// Its subscription.
    pub subscription_id: String,
    /// Its status.
    pub status: String,
    /// Attempts made.
    pub attempt_count: i64,
    /// The plugin's reason for skipping.
    pub skip_reason: Option<String>,
    /// When the next attempt is due (ms).
    pub next_attempt_at: Option<i64>,
    /// The content type sent.
    pub request_content_type: Option<String>,
    /// The headers sent, as JSON.
    pub request_headers: Option<String>,
    /// The body sent (`None`: the envelope, or deleted).
    pub request_body: Option<Vec<u8>>,
    /// Why its body was deleted.
    pub payload_deleted_note: Option<String>,
    /// Created (ms).
    pub created_at: i64,
    /// Changed (ms).
    pub updated_at: i64,
}

/// The tenant: (id, name, created_at, retention_ms).
pub async fn tenant(db: &Db, tenant: &str) -> Result<Option<(String, String, i64, Option<i64>)>> {
    Ok(
        sqlx::query_as("SELECT id, name, created_at, retention_ms FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// A page of the tenant's subscriptions after `after` by id.
pub async fn subscriptions(
    db: &Db,
    tenant: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<SubscriptionRow>> {
    Ok(sqlx::query_as(
        "SELECT id, url, event_types, transform, enabled, description, disabled_reason, \
         disabled_at, created_at, updated_at FROM subscriptions WHERE tenant_id = $1 AND id > $2 \
         ORDER BY id LIMIT $3",
    )
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Every version of the tenant's modules (at most the module quota times the version quota).
pub async fn modules(db: &Db, tenant: &str) -> Result<Vec<ModuleRow>> {
    Ok(sqlx::query_as(
        "SELECT name, version, sha256, size, info, created_at FROM module_versions \
         WHERE owner = $1 ORDER BY name, version",
    )
    .bind(tenant)
    .fetch_all(db.pool())
    .await?)
}

/// A page of the tenant's events after `after` by id.
pub async fn events(db: &Db, tenant: &str, after: &str, limit: i64) -> Result<Vec<EventRow>> {
    Ok(sqlx::query_as(
        "SELECT id, event_type, timestamp, data, created_at, payload_deleted_note \
         FROM events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// A page of the tenant's deliveries after `after` by id, with the page's attempts (by
/// delivery, oldest first).
pub async fn deliveries(
    db: &Db,
    tenant: &str,
    after: &str,
    limit: i64,
) -> Result<(Vec<DeliveryRow>, Vec<super::deliveries::AttemptRow>)> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, event_id, subscription_id, status, attempt_count, skip_reason, \
         next_attempt_at, request_content_type, request_headers, request_body, \
         payload_deleted_note, created_at, updated_at FROM deliveries \
         WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok((rows, Vec::new()));
    };
    let attempts = sqlx::query_as(
        "SELECT delivery_id, at, duration_ms, status_code, error, error_kind, response \
         FROM attempts WHERE delivery_id IN \
         (SELECT id FROM deliveries WHERE tenant_id = $1 AND id >= $2 AND id <= $3) \
         ORDER BY delivery_id, at, id",
    )
    .bind(tenant)
    .bind(&first.id)
    .bind(&last.id)
    .fetch_all(db.pool())
    .await?;
    Ok((rows, attempts))
}
