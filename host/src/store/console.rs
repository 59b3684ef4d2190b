//! The console's login links and sessions (`console_links`, `console_sessions`), and the
//! summaries its pages show. Tokens arrive here already hashed.

use std::collections::HashMap;

use super::{Db, Result};
use crate::model::{DeliveryStatus, delivery_id_floor};

/// Stores a login link for `tenant`, usable until `expires_at` (ms). Links and sessions past
/// their time (and one-time form tokens a day old) go at the same moment, so the tables hold
/// only what could still open a console.
pub async fn insert_link(
    db: &Db,
    token_hash: &str,
    tenant: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM console_links WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    // A form is not sent again after a day.
    sqlx::query("DELETE FROM console_once WHERE created_at <= $1")
        .bind(now - 24 * 3600 * 1000)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO console_links (token_hash, tenant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(tenant)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Uses the login link once: marks it used and opens a session `session_hash` until
/// `session_expires_at`, in one transaction. `None` when the link is unknown, used or expired
/// (the mark is a conditional UPDATE, so two nodes cannot both use one link).
pub async fn use_link(
    db: &Db,
    token_hash: &str,
    session_hash: &str,
    now: i64,
    session_expires_at: i64,
) -> Result<Option<String>> {
    let mut tx = db.begin_write().await?;
    let tenant: Option<(String,)> = sqlx::query_as(
        "UPDATE console_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
         AND expires_at > $1 RETURNING tenant_id",
    )
    .bind(now)
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((tenant,)) = tenant else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO console_sessions (token_hash, tenant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(session_hash)
    .bind(&tenant)
    .bind(now)
    .bind(session_expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(tenant))
}

/// Whose a session or a login link is: the tenant and its name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Owner {
    /// The tenant's id.
    pub tenant: String,
    /// The tenant's name.
    pub tenant_name: String,
}

/// The owner of the live session `session_hash`.
pub async fn session(db: &Db, session_hash: &str, now: i64) -> Result<Option<Owner>> {
    Ok(sqlx::query_as(
        "SELECT s.tenant_id AS tenant, t.name AS tenant_name FROM console_sessions s \
         JOIN tenants t ON t.id = s.tenant_id WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(session_hash)
    .bind(now)
    .fetch_optional(db.pool())
    .await?)
}

/// The owner of the login link `token_hash` while it can still be used (not used, not
/// expired), without using it.
pub async fn peek_link(db: &Db, token_hash: &str, now: i64) -> Result<Option<Owner>> {
    Ok(sqlx::query_as(
        "SELECT l.tenant_id AS tenant, t.name AS tenant_name FROM console_links l \
         JOIN tenants t ON t.id = l.tenant_id \
         WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db.pool())
    .await?)
}

/// Marks the one-time form token `once` used; `false` when it was used before (the browser
/// sent the same form again, e.g. on reload).
pub async fn use_once(db: &Db, once: &str, now: i64) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO console_once (token, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(once)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Ends the session `session_hash`.
pub async fn end_session(db: &Db, session_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
        .bind(session_hash)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// One subscription's recent deliveries, for its card.
#[derive(Debug, Default, Clone)]
pub struct Recent {
    /// Succeeded since the start of the window.
    pub succeeded: i64,
    /// Failed since the start of the window.
    pub failed: i64,
    /// The newest delivery: its status and when it last changed (ms).
    pub last: Option<(String, i64)>,
}

/// Per subscription of `tenant`: deliveries created since `since` (ms) that succeeded or
/// failed, and the newest delivery created since `newest_since`, in two statements whatever the
/// number of subscriptions. Both walk the deliveries index by tenant and id
/// ([`delivery_id_floor`]): the console adds no index, so no work, to the delivery hot path.
pub async fn recent(
    db: &Db,
    tenant: &str,
    since: i64,
    newest_since: i64,
) -> Result<HashMap<String, Recent>> {
    let mut by_subscription = HashMap::<String, Recent>::new();
    let counts: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT subscription_id, status, COUNT(*) FROM deliveries WHERE tenant_id = $1 \
         AND id >= $2 AND status IN ('succeeded', 'failed') GROUP BY subscription_id, status",
    )
    .bind(tenant)
    .bind(delivery_id_floor(since))
    .fetch_all(db.pool())
    .await?;
    for (subscription, status, count) in counts {
        let entry = by_subscription.entry(subscription).or_default();
        if status == DeliveryStatus::Succeeded.as_str() {
            entry.succeeded = count;
        } else {
            entry.failed = count;
        }
    }
    let newest: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT d.subscription_id, d.status, d.updated_at FROM deliveries d \
         JOIN (SELECT MAX(id) AS id FROM deliveries WHERE tenant_id = $1 AND id >= $2 \
               GROUP BY subscription_id) n ON n.id = d.id",
    )
    .bind(tenant)
    .bind(delivery_id_floor(newest_since))
    .fetch_all(db.pool())
    .await?;
    for (subscription, status, at) in newest {
        by_subscription.entry(subscription).or_default().last = Some((status, at));
    }
    Ok(by_subscription)
}
