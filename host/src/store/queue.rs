//! The claim queue's statements: the database is the queue. A delivery row is `pending` until
//! an attempt settles it, and a node works on it only while it holds its claim (`claimed_by`,
//! `claimed_until`).

use super::{Backend, Db, Result};

/// The PostgreSQL channel on which nodes announce work that any node may take.
pub const NOTIFY_CHANNEL: &str = "krog_work";

/// Announces due work to every node (inside the caller's transaction: sent on commit).
pub(super) async fn announce(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        sqlx::query(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The PostgreSQL channel on which a node names the deliveries an erasure cancelled, for every
/// node to drop them if their work waits there with its event in memory.
pub const CANCELLED_CHANNEL: &str = "krog_cancelled";

/// Delivery ids per notification: a payload holds under 8,000 bytes.
const CANCELLED_PER_NOTIFICATION: usize = 200;

/// Tells every node (inside the caller's transaction: sent on commit) which deliveries were
/// cancelled, comma-separated.
pub(super) async fn announce_cancelled(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    ids: &[String],
) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        for chunk in ids.chunks(CANCELLED_PER_NOTIFICATION) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CANCELLED_CHANNEL)
                .bind(chunk.join(","))
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// Sets `claimed_until` on this node's pending deliveries among `ids` (`None`: gives them up).
pub async fn set_claims(db: &Db, node: &str, ids: &[String], until: Option<i64>) -> Result<()> {
    let list = serde_json::to_string(ids).expect("strings serialize");
    let members = match db.backend() {
        Backend::Sqlite => "SELECT value FROM json_each($3)",
        Backend::Postgres => "SELECT jsonb_array_elements_text(CAST($3 AS jsonb))",
    };
    // Giving a claim back sets `claimed_until` to 0 rather than NULL with `claimed_by` kept:
    // the row is due to the scheduler at once, and no other writer tells the two apart.
    let sql = format!(
        "UPDATE deliveries SET claimed_until = $1 WHERE claimed_by = $2 AND status = 'pending' \
         AND id IN ({members})"
    );
    sqlx::query(&sql)
        .bind(until.unwrap_or(0))
        .bind(node)
        .bind(list)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// On SQLite only one process can own the database, so claims left by an earlier process of
/// this node are stale at start and given back at once instead of waiting out the lease.
pub async fn recover_on_start(db: &Db) -> Result<u64> {
    if db.backend() != Backend::Sqlite {
        return Ok(0);
    }
    let released = sqlx::query("UPDATE deliveries SET claimed_until = NULL, claimed_by = NULL WHERE status = 'pending' AND claimed_by IS NOT NULL")
        .execute(db.pool())
        .await?;
    Ok(released.rows_affected())
}

/// Gives back every claim `node` holds on pending deliveries (at shutdown: another node, or
/// this one's next start, takes them at once).
pub async fn release_node(db: &Db, node: &str) -> Result<()> {
    sqlx::query(
        "UPDATE deliveries SET claimed_until = NULL, claimed_by = NULL WHERE claimed_by = $1 AND status = 'pending'",
    )
    .bind(node)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A due delivery claimed by this node, with its event.
#[derive(Debug, sqlx::FromRow)]
pub struct Due {
    /// The delivery.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Its subscription.
    pub subscription_id: String,
    /// Attempts made so far.
    pub attempt_count: i64,
    /// The event.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The event's time.
    pub timestamp: String,
    /// The event's payload.
    pub data: String,
    /// The note of the event's deleted payload, when it was deleted.
    pub payload_deleted_note: Option<String>,
}

/// The due, unclaimed (or lease-expired) pending deliveries: `$3` now, `$4` the most.
const DUE: &str = "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $3 \
     AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY next_attempt_at LIMIT $4";

/// Claims up to `batch` due, unclaimed (or lease-expired) pending deliveries for `node` until
/// `lease_until`, each with its event: on PostgreSQL in one statement (other nodes skip the
/// rows it locks rather than wait for them); on SQLite, which has the database to itself, the
/// claim and then the read, in one transaction.
pub async fn claim_due(
    db: &Db,
    node: &str,
    lease_until: i64,
    now: i64,
    batch: i64,
) -> Result<Vec<Due>> {
    let mut tx = db.begin_write().await?;
    let claimed: Vec<Due> = match db.backend() {
        Backend::Postgres => {
            sqlx::query_as(&format!(
                "UPDATE deliveries d SET claimed_by = $1, claimed_until = $2 FROM events e \
                 WHERE d.id IN ({DUE} FOR UPDATE SKIP LOCKED) \
                 AND e.tenant_id = d.tenant_id AND e.id = d.event_id \
                 RETURNING d.id, d.tenant_id, d.subscription_id, d.attempt_count, d.event_id, \
                 e.event_type, e.timestamp, e.data, e.payload_deleted_note"
            ))
            .bind(node)
            .bind(lease_until)
            .bind(now)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?
        }
        Backend::Sqlite => {
            let ids: Vec<(String,)> = sqlx::query_as(&format!(
                "UPDATE deliveries SET claimed_by = $1, claimed_until = $2 WHERE id IN ({DUE}) \
                 RETURNING id"
            ))
            .bind(node)
            .bind(lease_until)
            .bind(now)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                Vec::new()
            } else {
                let list = serde_json::to_string(&ids.iter().map(|(id,)| id).collect::<Vec<_>>())
                    .expect("strings serialize");
                sqlx::query_as(
                    "SELECT d.id, d.tenant_id, d.subscription_id, d.attempt_count, d.event_id, \
                     e.event_type, e.timestamp, e.data, e.payload_deleted_note \
                     FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
                     WHERE d.id IN (SELECT value FROM json_each($1)) ORDER BY d.next_attempt_at",
                )
                .bind(list)
                .fetch_all(&mut *tx)
                .await?
            }
        }
    };
    tx.commit().await?;
    Ok(claimed)
}

/// Tells every node that there is due work any of them may take (on PostgreSQL; SQLite has one
/// node).
pub async fn announce_to_all(db: &Db) -> Result<()> {
    if db.backend() == Backend::Postgres {
        sqlx::query(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// When the next pending delivery becomes claimable (ms since the epoch), if any is pending.
pub async fn next_due(db: &Db) -> Result<Option<i64>> {
    let (next,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(CASE WHEN claimed_until IS NOT NULL AND claimed_until > next_attempt_at \
         THEN claimed_until ELSE next_attempt_at END) FROM deliveries WHERE status = 'pending'",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(next)
}
