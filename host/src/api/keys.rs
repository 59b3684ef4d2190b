//! API keys as things an admin manages: created with a name and an optional expiry (shown
//! once), listed with when they were last used (never the key), revoked. A revoked or expired
//! key is refused at once on the node that revoked it and, on PostgreSQL, on every other node
//! as soon as the directory's announcement arrives (within `KROG_DIRECTORY_TTL` at worst).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::{Caller, generate_key, hash_key};
use crate::api::error::{Error, Result};
use crate::api::extract::{Path, RawBody};
use crate::api::openapi::{ItemPath, TenantItemPath, TenantPath};
use crate::state::AppState;
use crate::store::keys::{KeyRow, Revoked};
use crate::store::{self, Db, now_ms, rfc3339};

/// The key routes: a tenant's keys, and the admin keys.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant_key, list_tenant_keys))
        .routes(routes!(revoke_tenant_key))
        .routes(routes!(create_admin_key, list_admin_keys))
        .routes(routes!(revoke_admin_key))
}

/// What a new key may be given; the body may also be empty.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "booking system"}))]
pub(crate) struct NewKey {
    /// To tell keys apart in the list ("booking system", "Anna's laptop").
    #[serde(default)]
    name: String,
    /// RFC 3339; after it the key is refused.
    expires_at: Option<String>,
}

/// A key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
pub(crate) struct ListedKey {
    /// The key's id, for revoking it.
    id: String,
    /// The name it was given.
    name: String,
    /// RFC 3339.
    #[serde(serialize_with = "ms_as_rfc3339")]
    #[schema(value_type = String)]
    created_at: i64,
    /// RFC 3339; null: never used.
    #[serde(serialize_with = "optional_ms_as_rfc3339")]
    #[schema(value_type = Option<String>)]
    last_used_at: Option<i64>,
    /// RFC 3339; null: never expires.
    #[serde(serialize_with = "optional_ms_as_rfc3339")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<i64>,
}

/// The keys, all on one page.
#[derive(Serialize, ToSchema)]
pub(crate) struct KeyList {
    /// Every key, oldest first.
    data: Vec<ListedKey>,
    /// Always null: keys are few and listed whole.
    next_cursor: Option<String>,
}

impl From<KeyRow> for ListedKey {
    fn from(row: KeyRow) -> ListedKey {
        ListedKey {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        }
    }
}

fn ms_as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

fn optional_ms_as_rfc3339<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

/// A created key: the key is in this answer and nowhere else, ever.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedKey {
    /// The key's id, for listing and revoking it.
    id: String,
    /// The key itself, for `Authorization: Bearer`; shown this once.
    key: String,
    /// The name it was given.
    name: String,
    /// RFC 3339; null: never expires.
    expires_at: Option<String>,
}

fn parse_new_key(body: &[u8]) -> Result<(String, Option<i64>)> {
    let new: NewKey = if body.iter().all(u8::is_ascii_whitespace) {
        NewKey::default()
    } else {
        serde_json::from_slice(body).map_err(Error::from_json_error)?
    };
    let name = new.name.trim().to_owned();
    if name.len() > 200 {
        return Err(Error::Validation(
            "name must be at most 200 characters".into(),
        ));
    }
    crate::store::check_plain_text("name", &name).map_err(Error::Validation)?;
    let expires_at = match new.expires_at {
        None => None,
        Some(text) => {
            let at = chrono::DateTime::parse_from_rfc3339(&text)
                .map_err(|e| {
                    Error::Validation(format!("expires_at {text:?} is not RFC 3339: {e}"))
                })?
                .timestamp_millis();
            if at <= now_ms() {
                return Err(Error::Validation(format!(
                    "expires_at {text:?} is in the past; give a time to come"
                )));
            }
            Some(at)
        }
    };
    Ok((name, expires_at))
}

async fn create(
    state: &AppState,
    tenant: Option<&str>,
    body: &[u8],
) -> Result<(StatusCode, axum::Json<CreatedKey>)> {
    let (name, expires_at) = parse_new_key(body)?;
    let key = generate_key();
    let id = store_key(&state.db, tenant, &key, &name, expires_at).await?;
    state.directory.invalidate();
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedKey {
            id,
            key,
            name,
            expires_at: expires_at.map(rfc3339),
        }),
    ))
}

/// Stores a key for a tenant (`None`: admin) and returns its id.
pub async fn store_key(
    db: &Db,
    tenant: Option<&str>,
    key: &str,
    name: &str,
    expires_at: Option<i64>,
) -> Result<String> {
    Ok(store::keys::insert(db, tenant, &hash_key(key), name, expires_at).await?)
}

async fn list(state: &AppState, tenant: Option<&str>) -> Result<axum::Json<KeyList>> {
    let rows = store::keys::list(&state.db, tenant).await?;
    Ok(axum::Json(KeyList {
        data: rows.into_iter().map(ListedKey::from).collect(),
        next_cursor: None,
    }))
}

async fn revoke(state: &AppState, tenant: Option<&str>, id: &str) -> Result<StatusCode> {
    match store::keys::revoke(&state.db, tenant, id).await? {
        Revoked::Done => {
            state.directory.invalidate();
            Ok(StatusCode::NO_CONTENT)
        }
        Revoked::NotFound => Err(Error::NotFound(format!("key {id}"))),
        Revoked::LastAdmin => Err(Error::Conflict(
            "this is the last admin key that works; create another admin key first".into(),
        )),
    }
}

/// Creates a tenant key, shown once (admin); optional name and expiry.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/keys", operation_id = "create_tenant_key",
    tag = "keys", params(TenantPath), request_body(content = Option<NewKey>),
    responses((status = 201, description = "The key, shown this once", body = CreatedKey)))]
async fn create_tenant_key(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, axum::Json<CreatedKey>)> {
    caller.require_admin()?;
    caller.require_tenant(&state.directory, &tenant).await?;
    create(&state, Some(&tenant), &body).await
}

/// Lists a tenant's keys (never the key).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/keys", operation_id = "list_tenant_keys",
    tag = "keys", params(TenantPath),
    responses((status = 200, description = "The keys", body = KeyList)))]
async fn list_tenant_keys(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<axum::Json<KeyList>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    list(&state, Some(&tenant)).await
}

/// Revokes a tenant key.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/keys/{id}", operation_id = "revoke_tenant_key",
    tag = "keys", params(TenantItemPath),
    responses((status = 204, description = "Revoked")))]
async fn revoke_tenant_key(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    caller.require_tenant(&state.directory, &tenant).await?;
    revoke(&state, Some(&tenant), &id).await
}

/// Creates an admin key, shown once (admin).
#[utoipa::path(post, path = "/v1/admin/keys", operation_id = "create_admin_key",
    tag = "keys", request_body(content = Option<NewKey>),
    responses((status = 201, description = "The key, shown this once", body = CreatedKey)))]
async fn create_admin_key(
    caller: Caller,
    State(state): State<AppState>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, axum::Json<CreatedKey>)> {
    caller.require_admin()?;
    create(&state, None, &body).await
}

/// Lists the admin keys (admin; never the key).
#[utoipa::path(get, path = "/v1/admin/keys", operation_id = "list_admin_keys", tag = "keys",
    responses((status = 200, description = "The keys", body = KeyList)))]
async fn list_admin_keys(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<axum::Json<KeyList>> {
    caller.require_admin()?;
    list(&state, None).await
}

/// Revokes an admin key, never the last one that works (admin).
#[utoipa::path(delete, path = "/v1/admin/keys/{id}", operation_id = "revoke_admin_key",
    tag = "keys", params(ItemPath),
    responses((status = 204, description = "Revoked")))]
async fn revoke_admin_key(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    caller.require_admin()?;
    revoke(&state, None, &id).await
}

/// The subcommand that judges an admin key in a child process ([`check_admin_key_in_child`]).
pub const CHECK_KEY_SUBCOMMAND: &str = "internal-check-admin-key";

/// Judges the key on stdin: exit 0 when strong, 3 with the reason on stdout when not.
pub fn check_admin_key_in_child() -> std::process::ExitCode {
    use std::io::Read;
    let mut key = String::new();
    if std::io::stdin().read_to_string(&mut key).is_err() {
        return std::process::ExitCode::FAILURE;
    }
    match check_admin_key_strength(key.trim_end_matches('\n')) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            print!("{why}");
            std::process::ExitCode::from(3)
        }
    }
}

/// [`check_admin_key_strength`], in a child process of `program` (the `krog` binary) when
/// there is one: zxcvbn's word lists take ~6 MB that a long-running service would keep.
pub fn check_admin_key(
    key: &str,
    program: Option<&std::path::Path>,
) -> std::result::Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Some(program) = program else {
        return check_admin_key_strength(key);
    };
    let child = Command::new(program)
        .arg(CHECK_KEY_SUBCOMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return check_admin_key_strength(key);
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(key.as_bytes());
    }
    match child.wait_with_output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) if output.status.code() == Some(3) => {
            Err(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        _ => check_admin_key_strength(key),
    }
}

/// Bits of entropy a configured admin key must have.
pub const MIN_ADMIN_KEY_BITS: f64 = 128.0;

/// Whether a configured admin key is too guessable to guard every tenant's data: it must carry
/// [`MIN_ADMIN_KEY_BITS`] by its length and alphabet, and have no words, sequences or repeats
/// a guesser tries first. The answer says how to make a good one.
pub fn check_admin_key_strength(key: &str) -> std::result::Result<(), String> {
    let body = key.strip_prefix("krog_").unwrap_or(key);
    let hex = body.bytes().all(|b| b.is_ascii_hexdigit());
    let base64 = body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b));
    let per_char = if hex {
        4.0
    } else if base64 {
        6.0
    } else {
        // Printable characters, but a person's choice: counted conservatively.
        5.0
    };
    // Characters a guesser gets cheaply — words, sequences, repeats, keyboard runs, dates —
    // carry (almost) no randomness; only the rest counts.
    // Each run of letters and digits is looked at alone: over a whole phrase, zxcvbn may find
    // brute force cheaper to describe than fifteen words, and then reports no words at all.
    let patterned: usize = body
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            zxcvbn::zxcvbn(segment, &[])
                .sequence()
                .iter()
                .filter(|m| {
                    !matches!(
                        m.pattern,
                        zxcvbn::matching::patterns::MatchPattern::BruteForce
                    )
                })
                .map(|m| m.token.chars().count())
                .filter(|&n| n >= 3)
                .sum::<usize>()
        })
        .sum();
    let length = body.chars().count();
    let random_chars = length.saturating_sub(patterned);
    let bits = random_chars as f64 * per_char;
    // A key that is mostly words and sequences is a phrase, however long.
    let mostly_patterns = patterned * 4 > length;
    if bits < MIN_ADMIN_KEY_BITS || mostly_patterns {
        return Err(format!(
            "KROG_ADMIN_KEY is too easy to guess (it needs at least {MIN_ADMIN_KEY_BITS} bits of \
             randomness, e.g. `openssl rand -hex 32`); for local development only, set \
             KROG_ALLOW_WEAK_ADMIN_KEY=true"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guessable_admin_keys_are_refused_and_random_ones_accepted() {
        for weak in [
            "krog_admin_dev_key",
            "krog_test_admin_key_0123456789",
            "this_is_my_very_long_admin_key_for_krog_2026",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(check_admin_key_strength(weak).is_err(), "{weak}");
        }
        for strong in [
            generate_key(),
            "3f9a1c7e5b2d48a6c0e1f7b3d5a9c2e41c8e0b6a2f4d9e7c3a5b1d0f8e6c2a94".to_owned(),
            "kR9v2LmQ8xZp4TnW7bYc1HsJ6dGf3Ke5".to_owned(),
        ] {
            assert!(check_admin_key_strength(&strong).is_ok(), "{strong}");
        }
    }
}
