//! Installation settings and the signing secrets' encryption at rest: the master key's check
//! value, re-encrypting the stored secrets, and the sweep of expired secrets and unused bytes.

use super::{Backend, Db, Error, Result, now_ms};

/// An installation setting.
pub async fn setting(db: &Db, name: &str) -> Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM installation_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(v,)| v))
}

/// Stores a setting unless another node stored it first.
pub async fn insert_setting(db: &Db, name: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO installation_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(value)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Changes a setting.
pub async fn set_setting(db: &Db, name: &str, value: &str) -> Result<()> {
    sqlx::query("UPDATE installation_settings SET value = $1 WHERE name = $2")
        .bind(value)
        .bind(name)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Up to `limit` (subscription, stored secret) of secrets stored encrypted (`format:`…).
pub async fn encrypted_sample(db: &Db, format: &str, limit: i64) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT subscription_id, secret FROM subscription_secrets WHERE secret LIKE $1 LIMIT $2",
    )
    .bind(format!("{format}:%"))
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// Rewrites the secrets not starting with `keep` with `rewrite(subscription, stored)`, in
/// transactions of `batch` rows, each row only if it did not change meanwhile. Returns the
/// rows rewritten. On SQLite, when a secret in the clear (not starting with `format:`) was
/// rewritten, the WAL (which holds the old pages) is emptied.
pub async fn rewrite_secrets(
    db: &Db,
    format: &str,
    keep: &str,
    batch: i64,
    rewrite: impl Fn(&str, &str) -> std::result::Result<String, String>,
) -> Result<u64> {
    use sqlx::Connection as _;
    let sqlite = db.backend() == Backend::Sqlite;
    // Every pooled SQLite connection runs with `secure_delete` on (`Db::connect`), so the
    // rewritten rows' old bytes are zeroed in the file rather than left in free space.
    let mut conn = db.pool().acquire().await?;
    let mut after = String::new();
    let mut moved = 0;
    let mut plaintext = false;
    let result: Result<()> = async {
        loop {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT id, subscription_id, secret FROM subscription_secrets \
                 WHERE secret NOT LIKE $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(format!("{keep}%"))
            .bind(&after)
            .bind(batch)
            .fetch_all(&mut *conn)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.0.clone();
            let mut tx = if sqlite {
                conn.begin_with("BEGIN IMMEDIATE").await?
            } else {
                conn.begin().await?
            };
            for (id, subscription, stored) in &rows {
                plaintext |= !stored.starts_with(&format!("{format}:"));
                let new = rewrite(subscription, stored).map_err(|why| {
                    Error::Corrupt(format!("secret {id} of subscription {subscription}: {why}"))
                })?;
                let updated = sqlx::query(
                    "UPDATE subscription_secrets SET secret = $1 WHERE id = $2 AND secret = $3",
                )
                .bind(new)
                .bind(id)
                .bind(stored)
                .execute(&mut *tx)
                .await?;
                moved += updated.rows_affected();
            }
            tx.commit().await?;
        }
        Ok(())
    }
    .await;
    if sqlite && plaintext && moved > 0 {
        // Old page images of the plaintext rows are in the WAL until it is emptied.
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await
        {
            tracing::warn!(error = %e, "could not empty the WAL after encrypting plaintext secrets");
        }
    }
    result.map(|()| moved)
}

/// Deletes secrets past their overlap: they sign nothing any more.
pub async fn delete_expired(db: &Db) -> Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM subscription_secrets WHERE expires_at IS NOT NULL AND expires_at <= $1",
    )
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(deleted.rows_affected())
}

/// Deletes stored module bytes that no module version refers to any more.
pub async fn delete_orphan_modules(db: &Db) -> Result<u64> {
    let deleted = sqlx::query(
        "DELETE FROM module_blobs WHERE NOT EXISTS \
         (SELECT 1 FROM module_versions v WHERE v.sha256 = module_blobs.sha256)",
    )
    .execute(db.pool())
    .await?;
    Ok(deleted.rows_affected())
}
