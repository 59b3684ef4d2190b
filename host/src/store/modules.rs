//! Module versions and their bytes (`module_versions`, `module_blobs`).

use super::{Db, Result};
use crate::model::ModuleRef;

/// One stored version of a module.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VersionRow {
    /// The module name.
    pub name: String,
    /// 1, 2, 3 … per module.
    pub version: i64,
    /// Hex SHA-256 of the component bytes.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size: i64,
    /// The plugin's info, as JSON text.
    pub info: String,
    /// The krog release that shipped it, for built-in formatters.
    pub builtin: Option<String>,
    /// Upload time, ms since the epoch.
    pub created_at: i64,
}

/// The columns of a [`VersionRow`].
pub const VERSION_COLUMNS: &str = "name, version, sha256, size, info, builtin, created_at";

/// The version a reference means (pinned, or the latest), if it exists.
pub async fn find_version(db: &Db, module: &ModuleRef) -> Result<Option<VersionRow>> {
    // Version 0 never exists, so `$3 = 0` means "the latest".
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM module_versions WHERE owner = $1 AND name = $2 \
         AND ($3 = 0 OR version = $3) ORDER BY version DESC LIMIT 1"
    );
    Ok(sqlx::query_as(&sql)
        .bind(&module.owner)
        .bind(&module.name)
        .bind(module.version.unwrap_or(0))
        .fetch_optional(db.pool())
        .await?)
}

/// The component bytes with this hash, if stored.
pub async fn blob(db: &Db, sha256: &str) -> Result<Option<Vec<u8>>> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT wasm FROM module_blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(wasm,)| wasm))
}

/// The newest version of `owner`/`name` with these bytes, if any.
pub async fn by_sha256(
    db: &Db,
    owner: &str,
    name: &str,
    sha256: &str,
) -> Result<Option<VersionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM module_versions WHERE owner = $1 AND name = $2 AND sha256 = $3 \
         ORDER BY version DESC LIMIT 1"
    ))
    .bind(owner)
    .bind(name)
    .bind(sha256)
    .fetch_optional(db.pool())
    .await?)
}

/// A version to store.
pub struct NewVersion<'a> {
    /// `""` for the catalog, else the tenant id.
    pub owner: &'a str,
    /// The module name.
    pub name: &'a str,
    /// Hex SHA-256 of `wasm`.
    pub sha256: &'a str,
    /// The component bytes.
    pub wasm: &'a [u8],
    /// The plugin's info, as JSON text.
    pub info: &'a str,
    /// The krog release that shipped it, for built-in formatters.
    pub builtin: Option<&'a str>,
    /// Upload time (ms).
    pub created_at: i64,
}

/// How many modules an owner, and versions a module, may have.
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    /// Modules per owner.
    pub modules: usize,
    /// Versions per module.
    pub versions: usize,
}

/// How storing a version went.
#[derive(Debug)]
pub enum Stored {
    /// Stored under this version number.
    Version(i64),
    /// The module already has this many versions, the most its quota allows.
    TooManyVersions(i64),
    /// The owner already has this many modules, the most its quota allows.
    TooManyModules(i64),
}

/// Stores a new version (and its bytes) in one transaction, within `quota` when given. Version
/// numbers come from a counter that deleting versions does not wind back: a version number,
/// once given out, always means the same bytes.
pub async fn insert_version(db: &Db, new: &NewVersion<'_>, quota: Option<Quota>) -> Result<Stored> {
    let mut tx = db.begin_write().await?;
    // Not "insert when missing": bytes that another request is deleting as unused (their last
    // version just went) are written again instead of vanishing under this version.
    sqlx::query(
        "INSERT INTO module_blobs (sha256, wasm) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(new.sha256)
    .bind(new.wasm)
    .execute(&mut *tx)
    .await?;
    if let Some(quota) = quota {
        let (versions,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM module_versions WHERE owner = $1 AND name = $2")
                .bind(new.owner)
                .bind(new.name)
                .fetch_one(&mut *tx)
                .await?;
        if versions > 0 && versions as usize >= quota.versions {
            return Ok(Stored::TooManyVersions(versions));
        }
        if versions == 0 {
            let (modules,): (i64,) =
                sqlx::query_as("SELECT COUNT(DISTINCT name) FROM module_versions WHERE owner = $1")
                    .bind(new.owner)
                    .fetch_one(&mut *tx)
                    .await?;
            if modules as usize >= quota.modules {
                return Ok(Stored::TooManyModules(modules));
            }
        }
    }
    let (version,): (i64,) = sqlx::query_as(
        "INSERT INTO module_names (owner, name, last_version) VALUES ($1, $2, 1) \
         ON CONFLICT (owner, name) DO UPDATE SET last_version = module_names.last_version + 1 \
         RETURNING last_version",
    )
    .bind(new.owner)
    .bind(new.name)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO module_versions (owner, name, version, sha256, size, info, builtin, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new.owner)
    .bind(new.name)
    .bind(version)
    .bind(new.sha256)
    .bind(new.wasm.len() as i64)
    .bind(new.info)
    .bind(new.builtin)
    .bind(new.created_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Stored::Version(version))
}

/// The owner's module names, by name, at most `limit`.
pub async fn names(db: &Db, owner: &str, limit: i64) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT name FROM module_versions WHERE owner = $1 ORDER BY name LIMIT $2",
    )
    .bind(owner)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// The latest version of each of the owner's modules, by name.
pub async fn latest_versions(db: &Db, owner: &str) -> Result<Vec<VersionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM module_versions m WHERE owner = $1 AND version = \
         (SELECT MAX(version) FROM module_versions l WHERE l.owner = m.owner AND l.name = m.name) \
         ORDER BY name"
    ))
    .bind(owner)
    .fetch_all(db.pool())
    .await?)
}

/// Every version of `owner`/`name`, oldest first.
pub async fn versions(db: &Db, owner: &str, name: &str) -> Result<Vec<VersionRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM module_versions WHERE owner = $1 AND name = $2 ORDER BY version"
    ))
    .bind(owner)
    .bind(name)
    .fetch_all(db.pool())
    .await?)
}

/// Deletes one version (its bytes stay until [`delete_unused_blob`]).
pub async fn delete_version(db: &Db, owner: &str, name: &str, version: i64) -> Result<()> {
    sqlx::query("DELETE FROM module_versions WHERE owner = $1 AND name = $2 AND version = $3")
        .bind(owner)
        .bind(name)
        .bind(version)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Deletes the bytes with this hash unless a version still uses them (the same bytes may back
/// versions of other modules and owners).
pub async fn delete_unused_blob(db: &Db, sha256: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM module_blobs WHERE sha256 = $1 AND NOT EXISTS \
         (SELECT 1 FROM module_versions WHERE sha256 = $1)",
    )
    .bind(sha256)
    .execute(db.pool())
    .await?;
    Ok(())
}
