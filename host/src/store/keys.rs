//! API keys (`api_keys`): stored as hashes, never the key.

use super::{Db, Result, new_id, now_ms};

/// A key as listed.
#[derive(sqlx::FromRow)]
pub struct KeyRow {
    /// The key's id.
    pub id: String,
    /// The name it was given.
    pub name: String,
    /// Created (ms).
    pub created_at: i64,
    /// Last used (ms), at most a minute late.
    pub last_used_at: Option<i64>,
    /// Expiry (ms).
    pub expires_at: Option<i64>,
}

/// Stores a key by its hash for a tenant (`None`: admin); its id.
pub async fn insert(
    db: &Db,
    tenant: Option<&str>,
    key_hash: &str,
    name: &str,
    expires_at: Option<i64>,
) -> Result<String> {
    let id = new_id("key");
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, key_hash, name, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(tenant)
    .bind(key_hash)
    .bind(name)
    .bind(expires_at)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(id)
}

/// Whether a key with this hash is stored.
pub async fn known(db: &Db, key_hash: &str) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM api_keys WHERE key_hash = $1")
        .bind(key_hash)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// How many admin keys are stored (expired ones too).
pub async fn admin_count(db: &Db) -> Result<i64> {
    let (admins,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE tenant_id IS NULL")
        .fetch_one(db.pool())
        .await?;
    Ok(admins)
}

/// The tenant's keys (`None`: the admin keys), oldest first.
pub async fn list(db: &Db, tenant: Option<&str>) -> Result<Vec<KeyRow>> {
    const COLUMNS: &str = "SELECT id, name, created_at, last_used_at, expires_at FROM api_keys";
    let tenant_sql = format!("{COLUMNS} WHERE tenant_id = $1 ORDER BY created_at, id");
    let admin_sql = format!("{COLUMNS} WHERE tenant_id IS NULL ORDER BY created_at, id");
    Ok(match tenant {
        Some(tenant) => sqlx::query_as(&tenant_sql).bind(tenant),
        None => sqlx::query_as(&admin_sql),
    }
    .fetch_all(db.pool())
    .await?)
}

/// How a revocation went.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    /// The key is gone.
    Done,
    /// No such key of that owner.
    NotFound,
    /// It was the last admin key that works: kept.
    LastAdmin,
}

/// Deletes the tenant's key `id` (`None`: an admin key) — never the last admin key that
/// works: locking every admin out would leave no way back in short of the database.
pub async fn revoke(db: &Db, tenant: Option<&str>, id: &str) -> Result<Revoked> {
    let mut tx = db.begin_write().await?;
    let deleted = match tenant {
        Some(tenant) => sqlx::query("DELETE FROM api_keys WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(tenant),
        None => sqlx::query("DELETE FROM api_keys WHERE id = $1 AND tenant_id IS NULL").bind(id),
    }
    .execute(&mut *tx)
    .await?;
    if deleted.rows_affected() == 0 {
        return Ok(Revoked::NotFound);
    }
    if tenant.is_none() {
        let (left,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM api_keys WHERE tenant_id IS NULL AND (expires_at IS NULL OR expires_at > $1)",
        )
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        if left == 0 {
            return Ok(Revoked::LastAdmin);
        }
    }
    tx.commit().await?;
    Ok(Revoked::Done)
}
