//! The delivery log's statements: deliveries with their attempts and what was sent, and
//! putting deliveries back in the queue by hand.

use super::{Backend, Db, Result};

/// A delivery claimed by id, with its event, as the worker reads it back.
#[derive(sqlx::FromRow)]
pub struct ClaimedRow {
    /// Its status (`pending` unless it settled meanwhile).
    pub status: String,
    /// The node holding its claim.
    pub claimed_by: Option<String>,
    /// The delivery with its event, as the scheduler claims it.
    #[sqlx(flatten)]
    pub delivery: super::queue::Due,
}

/// The delivery `id` with its event.
pub async fn claimed(db: &Db, id: &str) -> Result<Option<ClaimedRow>> {
    Ok(sqlx::query_as(
        "SELECT d.status, d.claimed_by, d.id, d.attempt_count, d.tenant_id, d.event_id, d.subscription_id, \
         e.event_type, e.timestamp, e.data, e.payload_deleted_note \
         FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
         WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}

/// A delivery row as the log shows it.
#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    /// The delivery's id.
    pub id: String,
    /// The event delivered.
    pub event_id: String,
    /// Where to.
    pub subscription_id: String,
    /// Its status.
    pub status: String,
    /// The plugin's reason for skipping.
    pub skip_reason: Option<String>,
    /// When the next attempt is due (ms).
    pub next_attempt_at: Option<i64>,
    /// Created (ms).
    pub created_at: i64,
    /// Last changed (ms).
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, event_id, subscription_id, status, skip_reason, next_attempt_at, created_at, updated_at";

/// One attempt row.
#[derive(sqlx::FromRow)]
pub struct AttemptRow {
    /// The delivery it belongs to.
    pub delivery_id: String,
    /// When it started (ms).
    pub at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i64>,
    /// What went wrong, for people.
    pub error: Option<String>,
    /// What kind of failure.
    pub error_kind: Option<String>,
    /// The start of the receiver's answer.
    pub response: Option<String>,
}

/// Which deliveries a listing takes; `None` takes all.
#[derive(Default)]
pub struct Filter<'a> {
    /// Only this subscription's.
    pub subscription_id: Option<&'a str>,
    /// Only with this status.
    pub status: Option<&'a str>,
    /// Only this event's.
    pub event_id: Option<&'a str>,
    /// Only ids before this one (the page cursor).
    pub before: Option<&'a str>,
}

/// Up to `limit` of the tenant's deliveries that pass `filter`, newest first.
pub async fn list(
    db: &Db,
    tenant: &str,
    filter: &Filter<'_>,
    limit: i64,
) -> Result<Vec<DeliveryRow>> {
    // Optional filters are written so that one statement serves every mix.
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE tenant_id = $1 \
         AND ($2 = '' OR subscription_id = $2) AND ($3 = '' OR status = $3) \
         AND ($4 = '' OR event_id = $4) AND ($5 = '' OR id < $5) ORDER BY id DESC LIMIT $6"
    ))
    .bind(tenant)
    .bind(filter.subscription_id.unwrap_or(""))
    .bind(filter.status.unwrap_or(""))
    .bind(filter.event_id.unwrap_or(""))
    .bind(filter.before.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// The tenant's delivery `id`.
pub async fn one(db: &Db, tenant: &str, id: &str) -> Result<Option<DeliveryRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(db.pool())
    .await?)
}

/// The attempts of the deliveries `ids`, each delivery's oldest first, in one statement.
pub async fn attempts_of(db: &Db, ids: &[String]) -> Result<Vec<AttemptRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let members = match db.backend() {
        Backend::Sqlite => "SELECT value FROM json_each($1)",
        Backend::Postgres => "SELECT jsonb_array_elements_text(CAST($1 AS jsonb))",
    };
    let list = serde_json::to_string(ids).expect("strings serialize");
    Ok(sqlx::query_as(&format!(
        "SELECT delivery_id, at, duration_ms, status_code, error, error_kind, response \
         FROM attempts WHERE delivery_id IN ({members}) ORDER BY delivery_id, at, id"
    ))
    .bind(list)
    .fetch_all(db.pool())
    .await?)
}

/// What a delivery sent, with its event for rebuilding an envelope.
#[derive(sqlx::FromRow)]
pub struct SentRow {
    /// The content type sent, if anything was.
    pub request_content_type: Option<String>,
    /// The headers sent, as JSON.
    pub request_headers: Option<String>,
    /// The body sent (`None` for the envelope, which the event holds).
    pub request_body: Option<Vec<u8>>,
    /// Why this delivery's body was deleted.
    pub delivery_deleted: Option<String>,
    /// The event's type.
    pub event_type: String,
    /// The event's timestamp.
    pub timestamp: String,
    /// The booking JSON.
    pub data: String,
    /// Why the event's payload was deleted.
    pub event_deleted: Option<String>,
}

/// What the delivery `id` sent.
pub async fn sent(db: &Db, id: &str) -> Result<SentRow> {
    Ok(sqlx::query_as(
        "SELECT d.request_content_type, d.request_headers, d.request_body, \
         d.payload_deleted_note AS delivery_deleted, \
         e.event_type, e.timestamp, e.data, e.payload_deleted_note AS event_deleted \
         FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
         WHERE d.id = $1",
    )
    .bind(id)
    .fetch_one(db.pool())
    .await?)
}

/// The ids of the tenant's deliveries that failed at or after `since` (ms), maybe of one
/// subscription only.
pub async fn failed_since(
    db: &Db,
    tenant: &str,
    since: i64,
    subscription_id: Option<&str>,
) -> Result<Vec<String>> {
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM deliveries WHERE tenant_id = $1 AND status = 'failed' AND updated_at >= $2 \
         AND ($3 = '' OR subscription_id = $3) ORDER BY id",
    )
    .bind(tenant)
    .bind(since)
    .bind(subscription_id.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// Sets the tenant's settled deliveries `ids` back to pending and due at `now`, in one
/// transaction that announces the work to every node.
pub async fn requeue(db: &Db, tenant: &str, ids: &[String], now: i64) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for id in ids {
        sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, claimed_until = NULL, \
             claimed_by = NULL, skip_reason = NULL, updated_at = $1 WHERE id = $2 AND tenant_id = $3 \
             AND status <> 'pending'",
        )
        .bind(now)
        .bind(id)
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    }
    super::queue::announce(&mut tx, db.backend()).await?;
    tx.commit().await?;
    Ok(())
}
