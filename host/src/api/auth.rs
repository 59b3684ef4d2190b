//! API keys: generated here, shown once, stored as SHA-256 hashes. An admin key can do
//! everything; a tenant key sees only its own tenant, and anything else answers 404 so that a
//! key cannot probe which tenants exist.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::api::error::{Error, Result};
use crate::directory::Directory;
pub use crate::model::Caller;
use crate::state::AppState;
use crate::store::{self, Db};

impl Caller {
    /// Fails unless the caller is an admin.
    pub fn require_admin(&self) -> Result<()> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Tenant(_) => Err(Error::Forbidden),
        }
    }

    /// Fails with 404 unless the caller may act for `tenant` and the tenant exists.
    pub async fn require_tenant(&self, directory: &Directory, tenant: &str) -> Result<()> {
        if let Caller::Tenant(own) = self
            && own != tenant
        {
            return Err(Error::NotFound(format!("tenant {tenant}")));
        }
        match directory.routes(tenant).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("tenant {tenant}"))),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Error::Unauthorized)?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(Error::Unauthorized)?;
        let hash = hash_key(key);
        let caller = state
            .directory
            .caller(&hash)
            .await?
            .ok_or(Error::Unauthorized)?;
        if let Err(wait) = state.rate.check(&hash) {
            metrics::counter!("krog_api_rate_limited_total").increment(1);
            return Err(Error::TooManyRequests {
                message: format!(
                    "this key made more than {} requests a second; slow down and retry after \
                     the Retry-After header's seconds (KROG_API_REQUESTS_PER_SECOND)",
                    state.config.api_requests_per_second
                ),
                retry_after: wait.as_secs().max(1),
            });
        }
        Ok(caller)
    }
}

/// A new random key: `krog_` + 32 random bytes in hex.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("krog_{}", hex::encode(bytes))
}

/// Keys are long and random, so one round of SHA-256 is enough to make a leaked database
/// useless for calling the API (no password stretching needed).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Makes sure an admin key exists: the configured one (idempotent; its strength was checked
/// first thing at start), or on a database with no admin key at all a new one, returned so
/// that start-up prints it once.
pub async fn ensure_admin_key(db: &Db, configured: Option<&str>) -> anyhow::Result<Option<String>> {
    if let Some(key) = configured {
        if !store::keys::known(db, &hash_key(key)).await? {
            crate::api::keys::store_key(db, None, key, "configured", None).await?;
        }
        return Ok(None);
    }
    if store::keys::admin_count(db).await? > 0 {
        return Ok(None);
    }
    let key = generate_key();
    crate::api::keys::store_key(db, None, &key, "first start", None).await?;
    Ok(Some(key))
}
