//! Tenants (`tenants`).

use super::{Db, Result};

/// A tenant row.
#[derive(sqlx::FromRow)]
pub struct TenantRow {
    /// The slug.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// Its own retention (ms); `None`: the installation's.
    pub retention_ms: Option<i64>,
}

/// Stores a new tenant; `false` when the id is taken.
pub async fn insert(db: &Db, tenant: &TenantRow, created_at: i64) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO tenants (id, name, created_at, retention_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(&tenant.id)
    .bind(&tenant.name)
    .bind(created_at)
    .bind(tenant.retention_ms)
    .execute(db.pool())
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Up to `limit` tenants with ids after `after`, by id.
pub async fn list(db: &Db, after: &str, limit: i64) -> Result<Vec<TenantRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, retention_ms FROM tenants WHERE id > $1 ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

/// The tenant `id`.
pub async fn one(db: &Db, id: &str) -> Result<Option<TenantRow>> {
    Ok(
        sqlx::query_as("SELECT id, name, retention_ms FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?,
    )
}

/// Renames the tenant.
pub async fn set_name(db: &Db, id: &str, name: &str) -> Result<()> {
    sqlx::query("UPDATE tenants SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Sets the tenant's own retention (ms; `None`: the installation's).
pub async fn set_retention(db: &Db, id: &str, retention_ms: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE tenants SET retention_ms = $1 WHERE id = $2")
        .bind(retention_ms)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}
