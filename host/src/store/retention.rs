//! Retention's statements: which payloads are old, and deleting them (leaving a note).

use std::collections::HashSet;

use super::{Db, Result};

/// Every tenant with its own retention (ms; `None`: the installation's default).
pub async fn tenants(db: &Db) -> Result<Vec<(String, Option<i64>)>> {
    Ok(
        sqlx::query_as("SELECT id, retention_ms FROM tenants ORDER BY id")
            .fetch_all(db.pool())
            .await?,
    )
}

/// (tenant, event) of every pending delivery created before `before`: events that pending
/// work still needs (a handful in normal operation; in the partial index of pending
/// deliveries).
pub async fn pending_events(db: &Db, before: i64) -> Result<HashSet<(String, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT tenant_id, event_id FROM deliveries WHERE status = 'pending' AND created_at < $1",
    )
    .bind(before)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().collect())
}

/// Up to `batch` of the tenant's events received before `cutoff` whose payload is still
/// there, after the (created_at, id) `after`, in that order: (id, created_at).
pub async fn old_events(
    db: &Db,
    tenant: &str,
    cutoff: i64,
    after: (i64, &str),
    batch: i64,
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT id, created_at FROM events WHERE payload_deleted_at IS NULL AND created_at < $1 \
         AND tenant_id = $2 AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
         ORDER BY created_at, id LIMIT $5",
    )
    .bind(cutoff)
    .bind(tenant)
    .bind(after.0)
    .bind(after.1)
    .bind(batch)
    .fetch_all(db.pool())
    .await?)
}

/// Deletes the payloads of the tenant's events `ids` in one transaction, leaving `note`;
/// how many it deleted.
pub async fn delete_event_payloads(
    db: &Db,
    tenant: &str,
    ids: &[&str],
    now: i64,
    note: &str,
) -> Result<u64> {
    let mut deleted = 0;
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    for id in ids {
        deleted += sqlx::query(
            "UPDATE events SET data = '', payload_deleted_at = $1, payload_deleted_note = $2 \
             WHERE tenant_id = $3 AND id = $4 AND payload_deleted_at IS NULL",
        )
        .bind(now)
        .bind(note)
        .bind(tenant)
        .bind(*id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(deleted)
}

/// Up to `batch` of the tenant's deliveries with ids after `cursor` and below `floor`, by id:
/// (id, status).
pub async fn old_deliveries(
    db: &Db,
    tenant: &str,
    cursor: &str,
    floor: &str,
    batch: i64,
) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, status FROM deliveries WHERE tenant_id = $1 AND id > $2 AND id < $3 \
         ORDER BY id LIMIT $4",
    )
    .bind(tenant)
    .bind(cursor)
    .bind(floor)
    .bind(batch)
    .fetch_all(db.pool())
    .await?)
}

/// Deletes the stored requests and answer excerpts of the settled deliveries `ids` in one
/// transaction, leaving `note`; how many it changed.
pub async fn delete_delivery_payloads(db: &Db, ids: &[&str], now: i64, note: &str) -> Result<u64> {
    let mut changed = 0;
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    for id in ids {
        let delivery = sqlx::query(
            "UPDATE deliveries SET request_body = NULL, request_headers = NULL, \
             payload_deleted_at = $1, payload_deleted_note = $2 \
             WHERE id = $3 AND status <> 'pending' AND payload_deleted_at IS NULL",
        )
        .bind(now)
        .bind(note)
        .bind(*id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if delivery > 0 {
            sqlx::query(
                "UPDATE attempts SET response = NULL WHERE delivery_id = $1 AND response IS NOT NULL",
            )
            .bind(*id)
            .execute(&mut *tx)
            .await?;
            changed += 1;
        }
    }
    tx.commit().await?;
    Ok(changed)
}
