//! Personal data's statements: erasure (finding and blanking one person's data, cancelling
//! its pending deliveries), deleting a tenant with all it owns, and making deleted content
//! leave the database files.

use std::time::Duration;

use super::{Backend, Db, Result, new_id};

/// A page of the tenant's events whose payload is still there, after `after` by id:
/// (id, booking JSON).
pub async fn events_page(
    db: &Db,
    tenant: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, data FROM events WHERE tenant_id = $1 AND payload_deleted_at IS NULL \
         AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Blanks the payloads of the tenant's events `ids` in one transaction, leaving `note`.
pub async fn erase_events(
    db: &Db,
    tenant: &str,
    ids: &[String],
    note: &str,
    now: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for event in ids {
        sqlx::query(
            "UPDATE events SET data = '', payload_deleted_at = $1, payload_deleted_note = $2 \
             WHERE tenant_id = $3 AND id = $4",
        )
        .bind(now)
        .bind(note)
        .bind(tenant)
        .bind(event)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A delivery as an erasure searches it.
#[derive(sqlx::FromRow)]
pub struct StoredDelivery {
    /// The delivery.
    pub id: String,
    /// Its event.
    pub event_id: String,
    /// Its status.
    pub status: String,
    /// The body sent.
    pub request_body: Option<Vec<u8>>,
    /// The headers sent, as JSON.
    pub request_headers: Option<String>,
    /// The plugin's reason for skipping.
    pub skip_reason: Option<String>,
}

/// An attempt as an erasure searches it.
#[derive(sqlx::FromRow)]
pub struct StoredAttempt {
    /// Its delivery.
    pub delivery_id: String,
    /// The attempt.
    pub id: String,
    /// The start of the receiver's answer.
    pub response: Option<String>,
    /// The error text.
    pub error: Option<String>,
}

/// A page of the tenant's deliveries after `after` by id, with the attempts of the page that
/// hold an answer or an error.
pub async fn deliveries_page(
    db: &Db,
    tenant: &str,
    after: &str,
    limit: i64,
) -> Result<(Vec<StoredDelivery>, Vec<StoredAttempt>)> {
    let rows: Vec<StoredDelivery> = sqlx::query_as(
        "SELECT id, event_id, status, request_body, request_headers, skip_reason \
         FROM deliveries WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
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
        "SELECT delivery_id, id, response, error FROM attempts WHERE delivery_id IN \
         (SELECT id FROM deliveries WHERE tenant_id = $1 AND id >= $2 AND id <= $3) \
         AND (response IS NOT NULL OR error IS NOT NULL)",
    )
    .bind(tenant)
    .bind(&first.id)
    .bind(&last.id)
    .fetch_all(db.pool())
    .await?;
    Ok((rows, attempts))
}

/// What an erasure changes on one page of deliveries.
#[derive(Default)]
pub struct PageErasure {
    /// Deliveries whose stored request goes, with whether their skip reason goes too.
    pub deliveries: Vec<(String, bool)>,
    /// Pending deliveries to cancel.
    pub cancel: Vec<String>,
    /// Attempts to blank: (delivery, attempt, the answer goes, the error goes).
    pub attempts: Vec<(String, String, bool, bool)>,
}

/// Applies `page` in one transaction: requests and attempts blanked with `note`, pending
/// deliveries cancelled with an attempt saying `cancel_reason` (recorded for `node`).
/// `before_commit` is given the deliveries actually cancelled (not settled meanwhile) while
/// the transaction is still open, so that a worker holding one drops it from the commit on.
pub async fn erase_page(
    db: &Db,
    page: &PageErasure,
    note: &str,
    cancel_reason: &str,
    node: &str,
    now: i64,
    before_commit: impl FnOnce(&[String]),
) -> Result<Vec<String>> {
    let mut tx = db.begin_write().await?;
    for (id, skip_reason_too) in &page.deliveries {
        sqlx::query(
            "UPDATE deliveries SET request_body = NULL, request_headers = NULL, \
             skip_reason = CASE WHEN $1 = 1 THEN $2 ELSE skip_reason END, \
             payload_deleted_at = $3, payload_deleted_note = $2 WHERE id = $4",
        )
        .bind(i64::from(*skip_reason_too))
        .bind(note)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    let mut cancelled = Vec::new();
    for id in &page.cancel {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'failed', next_attempt_at = NULL, \
             claimed_until = NULL, claimed_by = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            sqlx::query(
                "INSERT INTO attempts (id, delivery_id, at, duration_ms, status_code, error, error_kind, response, node) \
                 VALUES ($1, $2, $3, 0, NULL, $4, 'cancelled', NULL, $5)",
            )
            .bind(new_id("att"))
            .bind(id)
            .bind(now)
            .bind(cancel_reason)
            .bind(node)
            .execute(&mut *tx)
            .await?;
            cancelled.push(id.clone());
        }
    }
    for (delivery, attempt, response, error) in &page.attempts {
        sqlx::query(
            "UPDATE attempts SET response = CASE WHEN $1 = 1 THEN NULL ELSE response END, \
             error = CASE WHEN $2 = 1 THEN $3 ELSE error END WHERE delivery_id = $4 AND id = $5",
        )
        .bind(i64::from(*response))
        .bind(i64::from(*error))
        .bind(note)
        .bind(delivery)
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
    }
    before_commit(&cancelled);
    super::queue::announce_cancelled(&mut tx, db.backend(), &cancelled).await?;
    tx.commit().await?;
    Ok(cancelled)
}

/// An erasure as recorded: counts, never the value.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ErasureRow {
    /// The erasure's id.
    pub id: String,
    /// What identified the person: `booking_id`, `client_email` or `client_phone`.
    pub key_kind: String,
    /// Events whose booking data was deleted.
    pub events: i64,
    /// Deliveries whose stored request was deleted.
    pub deliveries: i64,
    /// Attempts whose stored answer excerpt or error was deleted.
    pub attempts: i64,
    /// Pending deliveries that will not be sent.
    pub cancelled_deliveries: i64,
    /// When (ms).
    pub created_at: i64,
}

const ERASURE_COLUMNS: &str =
    "id, key_kind, events, deliveries, attempts, cancelled_deliveries, created_at";

/// Records an erasure of the tenant's, with the keyed hash of the erased value.
pub async fn insert_erasure(
    db: &Db,
    tenant: &str,
    record: &ErasureRow,
    key_hash: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO erasures (id, tenant_id, key_kind, key_hash, events, deliveries, attempts, \
         cancelled_deliveries, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&record.id)
    .bind(tenant)
    .bind(&record.key_kind)
    .bind(key_hash)
    .bind(record.events)
    .bind(record.deliveries)
    .bind(record.attempts)
    .bind(record.cancelled_deliveries)
    .bind(record.created_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The tenant's erasures, oldest first.
pub async fn erasures(db: &Db, tenant: &str) -> Result<Vec<ErasureRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ERASURE_COLUMNS} FROM erasures WHERE tenant_id = $1 ORDER BY id"
    ))
    .bind(tenant)
    .fetch_all(db.pool())
    .await?)
}

/// Deletes the tenant and everything it owns. Keys, console links and sessions, and
/// subscriptions go first, in one transaction, so that nothing new arrives and no console stays
/// open (`after_first` runs then: drop what is cached);
/// then deliveries (their attempts by cascade) and events in batches of `batch`, so that a
/// large tenant never holds the database in one long transaction; then its modules (and their
/// bytes unless another owner uses them), and the tenant row, whose cascade takes whatever
/// arrived in between.
pub async fn delete_tenant(
    db: &Db,
    tenant: &str,
    batch: i64,
    after_first: impl FnOnce(),
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for sql in [
        "DELETE FROM api_keys WHERE tenant_id = $1",
        "DELETE FROM console_links WHERE tenant_id = $1",
        "DELETE FROM console_sessions WHERE tenant_id = $1",
        "DELETE FROM subscriptions WHERE tenant_id = $1",
    ] {
        sqlx::query(sql).bind(tenant).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    after_first();

    for table in ["deliveries", "events"] {
        loop {
            let last: Option<(String,)> = sqlx::query_as(&format!(
                "SELECT id FROM (SELECT id FROM {table} WHERE tenant_id = $1 ORDER BY id LIMIT $2) \
                 page ORDER BY id DESC LIMIT 1"
            ))
            .bind(tenant)
            .bind(batch)
            .fetch_optional(db.pool())
            .await?;
            let Some((last,)) = last else { break };
            let mut tx = db.begin_write().await?;
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND id <= $2"
            ))
            .bind(tenant)
            .bind(&last)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
    }

    let mut tx = db.begin_write().await?;
    let blobs: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT sha256 FROM module_versions WHERE owner = $1")
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM module_versions WHERE owner = $1")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM module_names WHERE owner = $1")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    for (sha256,) in &blobs {
        sqlx::query(
            "DELETE FROM module_blobs WHERE sha256 = $1 \
             AND NOT EXISTS (SELECT 1 FROM module_versions WHERE sha256 = $1)",
        )
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes deleted content leave the database files. SQLite: `secure_delete` has zeroed it in
/// the pages, but the WAL still holds the pages as they were; a TRUNCATE checkpoint copies the
/// new pages into the database file and empties the WAL. It waits for readers and writers to
/// step aside (each holds the database for milliseconds), so it is retried for up to 5 s: on a
/// busy node the writer and the workers rarely all pause at once, and an erasure that answers
/// before the copy is gone would answer too early.
/// PostgreSQL: a `VACUUM` (not in a transaction, in the background: on large tables it takes
/// a while, and the rows are already gone) prunes the dead row versions.
pub async fn scrub_files(db: &Db) {
    match db.backend() {
        Backend::Sqlite => {
            for _ in 0..100 {
                let result: std::result::Result<(i64, i64, i64), sqlx::Error> =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(db.pool())
                        .await;
                match result {
                    Ok((0, _, _)) => return,
                    Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "WAL checkpoint after an erasure failed");
                        return;
                    }
                }
            }
            tracing::warn!(
                "the WAL could not be truncated after an erasure (busy); the next checkpoint overwrites it"
            );
        }
        Backend::Postgres => {
            let pool = db.pool().clone();
            tokio::spawn(async move {
                if let Err(e) = sqlx::raw_sql("VACUUM events, deliveries, attempts")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "VACUUM after an erasure failed");
                }
            });
        }
    }
}
