//! What the directory loads: keys by hash, a tenant's subscriptions with their secrets, and
//! the announcement of a change to other nodes.

use super::{Db, Result};

/// A key by its hash: (id, tenant — `None` for an admin key —, expiry in ms).
pub async fn key_by_hash(
    db: &Db,
    hash: &str,
) -> Result<Option<(String, Option<String>, Option<i64>)>> {
    Ok(
        sqlx::query_as("SELECT id, tenant_id, expires_at FROM api_keys WHERE key_hash = $1")
            .bind(hash)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Records that key `id` was used at `now`.
pub async fn touch_key(db: &Db, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Whether the tenant exists.
pub async fn tenant_exists(db: &Db, tenant: &str) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// One subscription as the directory loads it.
#[derive(sqlx::FromRow)]
pub struct RouteRow {
    /// The subscription id.
    pub id: String,
    /// The destination URL.
    pub url: String,
    /// Its event types, as a JSON array.
    pub event_types: String,
    /// Its transform, as JSON.
    pub transform: Option<String>,
    /// 1 when enabled.
    pub enabled: i64,
    /// Free text for people.
    pub description: String,
    /// Since when every delivery of it has failed (ms), if it has.
    pub failing_since: Option<i64>,
}

/// Every subscription of the tenant, by id.
pub async fn routes(db: &Db, tenant: &str) -> Result<Vec<RouteRow>> {
    Ok(sqlx::query_as(
        "SELECT id, url, event_types, transform, enabled, description, failing_since \
         FROM subscriptions WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(tenant)
    .fetch_all(db.pool())
    .await?)
}

/// Every signing secret of the tenant's subscriptions, newest first: (subscription, stored
/// secret, expiry in ms).
pub async fn secrets(db: &Db, tenant: &str) -> Result<Vec<(String, String, Option<i64>)>> {
    Ok(sqlx::query_as(
        "SELECT x.subscription_id, x.secret, x.expires_at FROM subscription_secrets x \
         JOIN subscriptions s ON s.id = x.subscription_id WHERE s.tenant_id = $1 \
         ORDER BY x.created_at DESC",
    )
    .bind(tenant)
    .fetch_all(db.pool())
    .await?)
}

/// Sends a notification on `channel` (PostgreSQL).
pub async fn notify(db: &Db, channel: &str) -> Result<()> {
    sqlx::query(&format!("NOTIFY {channel}"))
        .execute(db.pool())
        .await?;
    Ok(())
}
