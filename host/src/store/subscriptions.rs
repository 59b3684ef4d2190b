//! Subscriptions and their signing secrets (`subscriptions`, `subscription_secrets`).

use super::{Db, Result, new_id};
use crate::model::DisabledReason;

/// A subscription row.
#[derive(sqlx::FromRow)]
pub struct SubscriptionRow {
    /// The subscription's id.
    pub id: String,
    /// Where deliveries are sent.
    pub url: String,
    /// The event types, as a JSON array.
    pub event_types: String,
    /// The transform, as JSON.
    pub transform: Option<String>,
    /// 1 when enabled.
    pub enabled: i64,
    /// Free text for people.
    pub description: String,
    /// Why it is stopped (a [`DisabledReason`] name), while it is.
    pub disabled_reason: Option<String>,
    /// When it was stopped (ms), while it is.
    pub disabled_at: Option<i64>,
    /// Since when every delivery of it has failed (ms); `None` while the last attempt did not.
    pub failing_since: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
}

const COLUMNS: &str = "id, url, event_types, transform, enabled, description, disabled_reason, \
     disabled_at, failing_since, created_at";

/// What a subscription is saved with (new, or changed).
pub struct Fields<'a> {
    /// Where deliveries are sent.
    pub url: &'a str,
    /// The event types, as a JSON array.
    pub event_types: &'a str,
    /// The transform, as JSON.
    pub transform: Option<&'a str>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Free text for people.
    pub description: &'a str,
    /// Why it is stopped, while it is.
    pub disabled_reason: Option<DisabledReason>,
    /// When it was stopped (ms), while it is.
    pub disabled_at: Option<i64>,
    /// Forget since when it has been failing (it is being started again).
    pub reset_failing: bool,
}

/// How many subscriptions the tenant has.
pub async fn count(db: &Db, tenant: &str) -> Result<i64> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM subscriptions WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_one(db.pool())
            .await?;
    Ok(count)
}

/// Stores a new subscription `id` with its first signing secret (already encrypted), in one
/// transaction.
pub async fn insert(
    db: &Db,
    tenant: &str,
    id: &str,
    fields: &Fields<'_>,
    secret: &str,
    now: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO subscriptions (id, tenant_id, url, event_types, transform, enabled, description, \
         disabled_reason, disabled_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
    )
    .bind(id)
    .bind(tenant)
    .bind(fields.url)
    .bind(fields.event_types)
    .bind(fields.transform)
    .bind(fields.enabled as i64)
    .bind(fields.description)
    .bind(fields.disabled_reason.map(DisabledReason::as_str))
    .bind(fields.disabled_at)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO subscription_secrets (id, subscription_id, secret, created_at) VALUES ($1, $2, $3, $4)")
        .bind(new_id("sec"))
        .bind(id)
        .bind(secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's subscription `id`.
pub async fn one(db: &Db, tenant: &str, id: &str) -> Result<Option<SubscriptionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}

/// Up to `limit` of the tenant's subscriptions with ids after `after`, by id.
pub async fn list(db: &Db, tenant: &str, after: &str, limit: i64) -> Result<Vec<SubscriptionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
    ))
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Saves the tenant's subscription `id` with `fields`.
pub async fn update(db: &Db, tenant: &str, id: &str, fields: &Fields<'_>, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE subscriptions SET url = $1, event_types = $2, transform = $3, enabled = $4, \
         description = $5, disabled_reason = $6, disabled_at = $7, updated_at = $8, \
         failing_since = CASE WHEN $9 = 1 THEN NULL ELSE failing_since END \
         WHERE tenant_id = $10 AND id = $11",
    )
    .bind(fields.url)
    .bind(fields.event_types)
    .bind(fields.transform)
    .bind(fields.enabled as i64)
    .bind(fields.description)
    .bind(fields.disabled_reason.map(DisabledReason::as_str))
    .bind(fields.disabled_at)
    .bind(now)
    .bind(fields.reset_failing as i64)
    .bind(tenant)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Starts the tenant's subscription `id` again: enabled, with no reason to be stopped and no
/// failures counted; `false` when there is none.
pub async fn enable(db: &Db, tenant: &str, id: &str, now: i64) -> Result<bool> {
    let enabled = sqlx::query(
        "UPDATE subscriptions SET enabled = 1, disabled_reason = NULL, disabled_at = NULL, \
         failing_since = NULL, updated_at = $1 WHERE tenant_id = $2 AND id = $3",
    )
    .bind(now)
    .bind(tenant)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(enabled.rows_affected() > 0)
}

/// Deletes the tenant's subscription `id`; `false` when there was none.
pub async fn delete(db: &Db, tenant: &str, id: &str) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// How a rotation went.
#[derive(Debug)]
pub enum Rotation {
    /// The new secret signs from now on; the old ones until the overlap ends.
    Done,
    /// `live` secrets still sign, the most allowed; the first stops at `soonest` (ms).
    TooManyLive {
        /// Secrets that sign.
        live: i64,
        /// When the first of them stops.
        soonest: Option<i64>,
    },
}

/// Gives subscription `id` a new signing secret (already encrypted) in one transaction:
/// secrets past their overlap go, the current one signs on until `overlap_until`, unless
/// `max_live` secrets already sign.
pub async fn rotate_secret(
    db: &Db,
    id: &str,
    secret: &str,
    now: i64,
    overlap_until: i64,
    max_live: i64,
) -> Result<Rotation> {
    let mut tx = db.begin_write().await?;
    // Secrets past their overlap sign nothing any more: they go.
    sqlx::query(
        "DELETE FROM subscription_secrets WHERE subscription_id = $1 AND expires_at IS NOT NULL \
         AND expires_at <= $2",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // Every live secret signs every delivery, so their number bounds the signature header.
    let (live, soonest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), MIN(expires_at) FROM subscription_secrets WHERE subscription_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if live >= max_live {
        return Ok(Rotation::TooManyLive { live, soonest });
    }
    sqlx::query("UPDATE subscription_secrets SET expires_at = $1 WHERE subscription_id = $2 AND expires_at IS NULL")
        .bind(overlap_until)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO subscription_secrets (id, subscription_id, secret, created_at) VALUES ($1, $2, $3, $4)")
        .bind(new_id("sec"))
        .bind(id)
        .bind(secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Rotation::Done)
}

/// (id, tenant, transform JSON) of every subscription with a transform, of one tenant or of
/// all (`None`).
pub async fn with_transforms(
    db: &Db,
    tenant: Option<&str>,
) -> Result<Vec<(String, String, String)>> {
    Ok(match tenant {
        Some(tenant) => sqlx::query_as("SELECT id, tenant_id, transform FROM subscriptions WHERE transform IS NOT NULL AND tenant_id = $1")
            .bind(tenant),
        None => sqlx::query_as("SELECT id, tenant_id, transform FROM subscriptions WHERE transform IS NOT NULL"),
    }
    .fetch_all(db.pool())
    .await?)
}
