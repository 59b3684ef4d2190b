//! Personal data on request (DESIGN.md, "Personal data"): a tenant's retention setting
//! (`PATCH /v1/tenants/{t}`), erasure of one person's data (`POST /v1/tenants/{t}/erasures`),
//! deleting a tenant with all it owns (`DELETE /v1/tenants/{t}`), and an export of what is
//! stored about a tenant as JSON Lines (`GET /v1/tenants/{t}/export`). Retention itself runs in
//! the background ([`crate::worker::retention`]).
//!
//! Erased means gone from the database files too, as far as krog can see to it: on SQLite every
//! connection runs with `secure_delete` (freed space is zeroed) and an erasure ends with a
//! checkpoint that truncates the WAL; on PostgreSQL an erasure is followed by a `VACUUM` of the
//! tables it touched.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{Error, Result};
use crate::api::extract::{Json, Path};
use crate::api::openapi::TenantPath;
use crate::api::tenants::Tenant;
use crate::model::DeliveryStatus;
use crate::state::AppState;
use crate::store::privacy::{ErasureRow, PageErasure};
use crate::store::{self, Db, new_id, now_ms, rfc3339};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update_tenant, delete_tenant))
        .routes(routes!(erase, list_erasures))
        .routes(routes!(export))
}

/// Rows changed per transaction by an erasure or a tenant deletion: each transaction is short,
/// so the group-commit writer (deliveries) gets its turn in between.
const BATCH: i64 = 500;

/// Rows read per query by the export.
const EXPORT_PAGE: i64 = 200;

// ---------------------------------------------------------------------------------------------
// Retention settings

/// A retention as given in the API or configuration (`"30d"`, `"12h"`), in milliseconds.
pub fn parse_retention(text: &str) -> Result<i64> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| Error::Validation(format!("retention {text:?}: {e}")))?;
    if duration < Duration::from_secs(1) || duration > Duration::from_secs(100 * 365 * 86_400) {
        return Err(Error::Validation(format!(
            "retention {text:?} must be between 1s and 100 years"
        )));
    }
    Ok(duration.as_millis() as i64)
}

/// A retention as the API shows it: the largest whole unit (`"30d"`, `"36h"`, `"1s"`).
pub fn format_retention(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Serializes a tenant's own retention (`null`: the installation's default).
pub fn serialize_retention<S: serde::Serializer>(
    ms: &Option<i64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_retention(*ms)),
        None => s.serialize_none(),
    }
}

/// Deserializes a present field, `null` included, as `Some`: with `#[serde(default)]` an absent
/// field stays `None`, so `{"retention": null}` (back to the default) differs from `{}`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A change to a tenant: absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"retention": "7d"}))]
pub(crate) struct TenantChange {
    /// A new name (admin only).
    name: Option<String>,
    /// How long payloads are kept (`"7d"`); `null`: back to the installation's `KROG_RETENTION`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    retention: Option<Option<String>>,
}

/// `PATCH /v1/tenants/{t}`: the retention (the tenant itself may set it: it is the clinic's
/// decision as controller of the data) and the name (admin only).
/// Changes a tenant's retention (the tenant's own key may) or name (admin).
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", operation_id = "update_tenant",
    tag = "tenants", params(TenantPath), request_body = TenantChange,
    responses((status = 200, description = "The tenant as changed", body = crate::api::tenants::Tenant)))]
async fn update_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(change): Json<TenantChange>,
) -> Result<axum::Json<Tenant>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    if let Some(name) = &change.name {
        caller.require_admin()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(Error::Validation("name must be 1 to 200 characters".into()));
        }
        crate::store::check_plain_text("name", name).map_err(Error::Validation)?;
        store::tenants::set_name(&state.db, &tenant, name).await?;
    }
    if let Some(retention) = &change.retention {
        let ms = retention.as_deref().map(parse_retention).transpose()?;
        store::tenants::set_retention(&state.db, &tenant, ms).await?;
    }
    state.directory.invalidate();
    let row = store::tenants::one(&state.db, &tenant)
        .await?
        .ok_or_else(|| Error::NotFound(format!("tenant {tenant}")))?;
    Ok(axum::Json(row.into()))
}

// ---------------------------------------------------------------------------------------------
// Erasure

/// What identifies the person: exactly one of the three.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_email": "mette@example.dk"}))]
pub(crate) struct ErasureRequest {
    /// Every event of this booking.
    booking_id: Option<String>,
    /// Every booking whose client has this email (case does not matter).
    client_email: Option<String>,
    /// Every booking whose client has this phone number (its digits are compared).
    client_phone: Option<String>,
}

/// The key, normalized for matching.
#[derive(Debug, Clone)]
enum Key {
    BookingId(String),
    /// Lower case.
    ClientEmail(String),
    /// As given, and its digits (with a leading `+` if any).
    ClientPhone {
        given: String,
        digits: String,
    },
}

impl Key {
    fn from_request(request: ErasureRequest) -> Result<Key> {
        let given = [
            request.booking_id.is_some(),
            request.client_email.is_some(),
            request.client_phone.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(Error::Validation(
                "give exactly one of booking_id, client_email, client_phone".into(),
            ));
        }
        if let Some(id) = request.booking_id {
            let id = id.trim().to_owned();
            if id.len() < 2 || id.len() > 255 {
                return Err(Error::Validation(
                    "booking_id must be 2 to 255 characters".into(),
                ));
            }
            return Ok(Key::BookingId(id));
        }
        if let Some(email) = request.client_email {
            let email = email.trim().to_lowercase();
            if email.len() < 3 || !email.contains('@') || email.len() > 320 {
                return Err(Error::Validation(
                    "client_email must be an email address".into(),
                ));
            }
            return Ok(Key::ClientEmail(email));
        }
        let given = request.client_phone.unwrap_or_default().trim().to_owned();
        let digits = phone_digits(&given);
        if digits.trim_start_matches('+').len() < 6 || given.len() > 64 {
            return Err(Error::Validation(
                "client_phone must have at least 6 digits".into(),
            ));
        }
        Ok(Key::ClientPhone { given, digits })
    }

    fn kind(&self) -> &'static str {
        match self {
            Key::BookingId(_) => "booking_id",
            Key::ClientEmail(_) => "client_email",
            Key::ClientPhone { .. } => "client_phone",
        }
    }

    /// The normalized value, for the keyed hash.
    fn normalized(&self) -> &str {
        match self {
            Key::BookingId(v) | Key::ClientEmail(v) => v,
            Key::ClientPhone { digits, .. } => digits,
        }
    }

    /// Whether a stored booking (the event's `data`) is this person's: by the parsed field, or
    /// the value anywhere in it (a booking that mentions the email in its notes is theirs too).
    /// A phone number found in a booking adds the way it is written there to `needles`, for
    /// the search of bodies and answers derived from it.
    fn matches_event(&self, data: &str, needles: &mut Needles) -> bool {
        let booking: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        match self {
            Key::BookingId(id) => {
                booking["id"].as_str() == Some(id.as_str())
                    || data.contains(&serde_json::to_string(id).unwrap_or_default())
            }
            Key::ClientEmail(email) => {
                booking["client"]["email"]
                    .as_str()
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
                    || data.to_lowercase().contains(email.as_str())
            }
            Key::ClientPhone { given, digits } => {
                let stored = booking["client"]["phone"].as_str();
                let hit = stored.is_some_and(|p| phone_digits(p) == *digits)
                    || data.contains(given.as_str());
                if hit && let Some(stored) = stored {
                    needles.add(stored.trim());
                }
                hit
            }
        }
    }
}

/// Digits of a phone number, with its leading `+` kept (so `+45 20 12 34 56` and
/// `+4520123456` are one number).
fn phone_digits(phone: &str) -> String {
    let mut out = String::new();
    if phone.trim_start().starts_with('+') {
        out.push('+');
    }
    out.extend(phone.chars().filter(char::is_ascii_digit));
    out
}

/// The texts searched for in transformed bodies, headers, skip reasons and attempt answers.
struct Needles {
    texts: Vec<String>,
    /// Case-insensitive (emails).
    fold_case: bool,
    /// A hit must not run on into a longer word (`bk_10` is not in `bk_1042`).
    whole_word: bool,
}

impl Needles {
    fn of(key: &Key) -> Needles {
        match key {
            Key::BookingId(id) => Needles {
                texts: vec![id.clone()],
                fold_case: false,
                whole_word: true,
            },
            Key::ClientEmail(email) => Needles {
                texts: vec![email.clone()],
                fold_case: true,
                whole_word: false,
            },
            Key::ClientPhone { given, .. } => Needles {
                texts: vec![given.clone()],
                fold_case: false,
                whole_word: false,
            },
        }
    }

    fn add(&mut self, text: &str) {
        if !text.is_empty() && !self.texts.iter().any(|t| t == text) {
            self.texts.push(text.to_owned());
        }
    }

    fn found_in(&self, haystack: &str) -> bool {
        let folded;
        let haystack = if self.fold_case {
            folded = haystack.to_lowercase();
            folded.as_str()
        } else {
            haystack
        };
        self.texts.iter().any(|needle| {
            if !self.whole_word {
                return haystack.contains(needle.as_str());
            }
            let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
            haystack.match_indices(needle.as_str()).any(|(at, _)| {
                let before = haystack[..at].chars().next_back();
                let after = haystack[at + needle.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
    }

    fn found_in_bytes(&self, bytes: &[u8]) -> bool {
        self.found_in(&String::from_utf8_lossy(bytes))
    }
}

/// An erasure as recorded and shown: what kind of key, when, and how much was removed. Never
/// the value.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erasure {
    /// The erasure's id.
    id: String,
    /// What identified the person: `booking_id`, `client_email` or `client_phone`.
    #[serde(rename = "key")]
    key_kind: String,
    /// Events whose booking data was deleted.
    events: i64,
    /// Deliveries whose stored request (transformed body, headers) was deleted.
    deliveries: i64,
    /// Attempts whose stored answer excerpt or error was deleted.
    attempts: i64,
    /// Pending deliveries of the erased events that will not be sent.
    cancelled_deliveries: i64,
    /// RFC 3339.
    #[serde(serialize_with = "as_rfc3339")]
    #[schema(value_type = String)]
    created_at: i64,
}

/// The erasures, all on one page.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErasureList {
    /// Every erasure, oldest first.
    data: Vec<Erasure>,
    /// Always null: listed whole.
    next_cursor: Option<String>,
}

fn as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

impl From<ErasureRow> for Erasure {
    fn from(row: ErasureRow) -> Erasure {
        Erasure {
            id: row.id,
            key_kind: row.key_kind,
            events: row.events,
            deliveries: row.deliveries,
            attempts: row.attempts,
            cancelled_deliveries: row.cancelled_deliveries,
            created_at: row.created_at,
        }
    }
}

/// The keyed hash of an erased value: the installation's key, so that the same value hashes
/// alike on every node but cannot be guessed from the table alone.
async fn key_hash(db: &Db, key: &Key) -> Result<String> {
    let secret = db.installation_key("erasure_hash").await?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
    mac.update(key.kind().as_bytes());
    mac.update(b":");
    mac.update(key.normalized().as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// `POST /v1/tenants/{t}/erasures`: removes every stored copy of one person's data — the
/// bookings (by parsed id, email or phone, or the value anywhere in them), every delivery of
/// those bookings (body and headers), and any other body, skip reason, answer excerpt or error
/// that contains the value — cancels pending deliveries of those bookings, and records counts.
/// Erases one person's data, by booking id, client email or client phone (exactly one).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/erasures", operation_id = "create_erasure",
    tag = "personal data", params(TenantPath), request_body = ErasureRequest,
    responses((status = 201, description = "What was erased, counted; never the value", body = Erasure)))]
async fn erase(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(request): Json<ErasureRequest>,
) -> Result<(StatusCode, axum::Json<Erasure>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let key = Key::from_request(request)?;
    let hash = key_hash(&state.db, &key).await?;
    let id = new_id("era");
    let note = format!("payload erased on request (erasure {id})");
    let mut needles = Needles::of(&key);
    let mut record = ErasureRow {
        id: id.clone(),
        key_kind: key.kind().to_owned(),
        events: 0,
        deliveries: 0,
        attempts: 0,
        cancelled_deliveries: 0,
        created_at: now_ms(),
    };

    // The bookings first: their deliveries are erased whole, whatever their bodies contain.
    let mut matched = HashSet::new();
    let mut after = String::new();
    loop {
        let rows = store::privacy::events_page(&state.db, &tenant, &after, BATCH).await?;
        let Some((last, _)) = rows.last() else { break };
        after = last.clone();
        let hits: Vec<String> = rows
            .into_iter()
            .filter(|(_, data)| key.matches_event(data, &mut needles))
            .map(|(id, _)| id)
            .collect();
        if hits.is_empty() {
            continue;
        }
        store::privacy::erase_events(&state.db, &tenant, &hits, &note, now_ms()).await?;
        record.events += hits.len() as i64;
        matched.extend(hits);
    }

    // Then every delivery of the tenant, a page at a time, with the attempts of the page.
    let cancel_reason =
        format!("cancelled by erasure {id}: the booking's personal data was erased on request");
    let mut after = String::new();
    loop {
        let (rows, attempts) =
            store::privacy::deliveries_page(&state.db, &tenant, &after, BATCH).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id.clone();
        let of_matched: HashSet<&str> = rows
            .iter()
            .filter(|d| matched.contains(&d.event_id))
            .map(|d| d.id.as_str())
            .collect();

        let mut page = PageErasure::default();
        for delivery in &rows {
            let whole = of_matched.contains(delivery.id.as_str());
            let skip_hit = delivery
                .skip_reason
                .as_deref()
                .is_some_and(|r| whole || needles.found_in(r));
            let hit = whole
                || skip_hit
                || delivery
                    .request_body
                    .as_deref()
                    .is_some_and(|b| needles.found_in_bytes(b))
                || delivery
                    .request_headers
                    .as_deref()
                    .is_some_and(|h| needles.found_in(h));
            if hit {
                page.deliveries.push((delivery.id.clone(), skip_hit));
            }
            if whole && delivery.status == DeliveryStatus::Pending.as_str() {
                page.cancel.push(delivery.id.clone());
            }
        }
        for attempt in &attempts {
            let whole = of_matched.contains(attempt.delivery_id.as_str());
            let response_hit = attempt
                .response
                .as_deref()
                .is_some_and(|r| whole || needles.found_in(r));
            let error_hit = attempt
                .error
                .as_deref()
                .is_some_and(|e| needles.found_in(e));
            if response_hit || error_hit {
                page.attempts.push((
                    attempt.delivery_id.clone(),
                    attempt.id.clone(),
                    response_hit,
                    error_hit,
                ));
            }
        }
        let cancelled = store::privacy::erase_page(
            &state.db,
            &page,
            &note,
            &cancel_reason,
            state.queue.node_id(),
            now_ms(),
            // Before the commit: from the commit on, a worker must not send what waits here.
            |cancelled| state.cancelled.add(cancelled.iter().cloned()),
        )
        .await?;
        record.deliveries += page.deliveries.len() as i64;
        record.attempts += page.attempts.len() as i64;
        record.cancelled_deliveries += cancelled.len() as i64;
    }

    store::privacy::insert_erasure(&state.db, &tenant, &record, &hash).await?;
    metrics::counter!("krog_erasures_total").increment(1);
    tracing::info!(tenant = %tenant, erasure = %record.id, kind = record.key_kind, events = record.events,
        deliveries = record.deliveries, attempts = record.attempts,
        cancelled = record.cancelled_deliveries, "erasure done");
    store::privacy::scrub_files(&state.db).await;
    Ok((StatusCode::CREATED, axum::Json(record.into())))
}

/// Lists the erasures done (counts, never the value).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/erasures", operation_id = "list_erasures",
    tag = "personal data", params(TenantPath),
    responses((status = 200, description = "The erasures", body = ErasureList)))]
async fn list_erasures(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<axum::Json<ErasureList>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let rows = store::privacy::erasures(&state.db, &tenant).await?;
    Ok(axum::Json(ErasureList {
        data: rows.into_iter().map(Erasure::from).collect(),
        next_cursor: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// Deleting a tenant

/// `DELETE /v1/tenants/{t}` (admin): the tenant and everything it owns. Keys and subscriptions
/// go first, in one transaction, so that nothing new arrives; then deliveries (their attempts
/// by cascade) and events in batches, so that a large tenant never holds the database in one
/// long transaction; then its modules (and their bytes unless another owner uses them), and
/// the tenant row, whose cascade takes whatever arrived in between.
/// Deletes a tenant and everything it owns (admin).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", operation_id = "delete_tenant",
    tag = "tenants", params(TenantPath),
    responses((status = 204, description = "Deleted")))]
async fn delete_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<StatusCode> {
    caller.require_admin()?;
    if store::tenants::one(&state.db, &tenant).await?.is_none() {
        return Err(Error::NotFound(format!("tenant {tenant}")));
    }
    store::privacy::delete_tenant(&state.db, &tenant, BATCH, || {
        state.directory.invalidate();
    })
    .await?;
    state.directory.invalidate();
    tracing::info!(tenant = %tenant, "tenant deleted with everything it owned");
    store::privacy::scrub_files(&state.db).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Export

/// Where the export is.
#[derive(Clone)]
enum Phase {
    Tenant,
    Subscriptions(String),
    Modules,
    Events(String),
    Deliveries(String),
    Erasures,
    End,
    Done,
}

struct Export {
    db: Db,
    tenant: String,
    phase: Phase,
    counts: HashMap<&'static str, i64>,
}

/// `GET /v1/tenants/{t}/export`: everything stored about the tenant, as JSON Lines, one object
/// per line with a `kind` (`tenant`, `subscription`, `module`, `event`, `delivery` with its
/// attempts, `erasure`, and a last `end` line with the counts — a file without it was cut
/// short). Signing secrets and module bytes are left out. Streamed a page at a time, so a
/// large tenant is never held in memory; each page is read on its own, so rows that change
/// while the export runs appear as they were when their page was read.
/// Everything stored about the tenant, as JSON Lines: one object per line, each with its `kind`.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/export", operation_id = "export_tenant",
    tag = "personal data", params(TenantPath),
    responses((status = 200, description = "JSON Lines", content_type = "application/x-ndjson", body = String)))]
async fn export(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let start = Export {
        db: state.db.clone(),
        tenant,
        phase: Phase::Tenant,
        counts: HashMap::new(),
    };
    let stream = futures_util::stream::unfold(start, |mut export| async move {
        loop {
            if matches!(export.phase, Phase::Done) {
                return None;
            }
            match export.next_chunk().await {
                Ok(Some(chunk)) => return Some((Ok::<Bytes, std::io::Error>(chunk), export)),
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, tenant = %export.tenant, "export failed");
                    export.phase = Phase::Done;
                    return Some((Err(std::io::Error::other("export failed")), export));
                }
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl Export {
    fn line(&mut self, out: &mut Vec<u8>, kind: &'static str, mut value: Value) {
        value["kind"] = Value::from(kind);
        serde_json::to_writer(&mut *out, &value).expect("JSON values serialize");
        out.push(b'\n');
        *self.counts.entry(kind).or_default() += 1;
    }

    /// The next page of lines (`None`: this phase had nothing more; go on).
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, store::Error> {
        let db = self.db.clone();
        let tenant = self.tenant.clone();
        let mut out = Vec::new();
        match self.phase.clone() {
            Phase::Tenant => {
                let row = store::export::tenant(&db, &tenant).await?;
                if let Some((id, name, created_at, retention)) = row {
                    self.line(
                        &mut out,
                        "tenant",
                        json!({"id": id, "name": name, "created_at": rfc3339(created_at),
                               "retention": retention.map(format_retention)}),
                    );
                }
                self.phase = Phase::Subscriptions(String::new());
            }
            Phase::Subscriptions(after) => {
                let rows = store::export::subscriptions(&db, &tenant, &after, EXPORT_PAGE).await?;
                self.phase = match rows.last() {
                    Some(last) => Phase::Subscriptions(last.id.clone()),
                    None => Phase::Modules,
                };
                for s in rows {
                    self.line(
                        &mut out,
                        "subscription",
                        json!({"id": s.id, "url": s.url, "event_types": json_text(&s.event_types),
                               "transform": s.transform.as_deref().map(json_text),
                               "enabled": s.enabled != 0, "description": s.description,
                               "disabled_reason": s.disabled_reason,
                               "created_at": rfc3339(s.created_at), "updated_at": rfc3339(s.updated_at)}),
                    );
                }
            }
            Phase::Modules => {
                let rows = store::export::modules(&db, &tenant).await?;
                for m in rows {
                    self.line(
                        &mut out,
                        "module",
                        json!({"name": m.name, "version": m.version, "sha256": m.sha256,
                               "size": m.size, "info": json_text(&m.info),
                               "created_at": rfc3339(m.created_at)}),
                    );
                }
                self.phase = Phase::Events(String::new());
            }
            Phase::Events(after) => {
                let rows = store::export::events(&db, &tenant, &after, EXPORT_PAGE).await?;
                self.phase = match rows.last() {
                    Some(last) => Phase::Events(last.id.clone()),
                    None => Phase::Deliveries(String::new()),
                };
                for e in rows {
                    let data = match &e.payload_deleted_note {
                        Some(_) => Value::Null,
                        None => json_text(&e.data),
                    };
                    self.line(
                        &mut out,
                        "event",
                        json!({"id": e.id, "type": e.event_type, "timestamp": e.timestamp,
                               "received_at": rfc3339(e.created_at), "data": data,
                               "payload_deleted": e.payload_deleted_note}),
                    );
                }
            }
            Phase::Deliveries(after) => {
                let (rows, attempts) =
                    store::export::deliveries(&db, &tenant, &after, EXPORT_PAGE).await?;
                let Some(last) = rows.last() else {
                    self.phase = Phase::Erasures;
                    return Ok(None);
                };
                self.phase = Phase::Deliveries(last.id.clone());
                let mut by_delivery: HashMap<String, Vec<Value>> = HashMap::new();
                for a in attempts {
                    by_delivery.entry(a.delivery_id).or_default().push(json!({
                        "at": rfc3339(a.at), "duration_ms": a.duration_ms,
                        "status_code": a.status_code, "error": a.error, "kind": a.error_kind,
                        "response": a.response,
                    }));
                }
                for d in rows {
                    let request = d.request_content_type.map(|content_type| {
                        let mut request = json!({
                            "content_type": content_type,
                            "headers": d.request_headers.as_deref().map(json_text),
                        });
                        match d.request_body {
                            Some(body) => match String::from_utf8(body) {
                                Ok(text) => request["body"] = Value::from(text),
                                Err(e) => {
                                    request["body_base64"] = Value::from(
                                        base64::engine::general_purpose::STANDARD
                                            .encode(e.into_bytes()),
                                    )
                                }
                            },
                            // The body was the event's envelope: see the event's line.
                            None if d.payload_deleted_note.is_none() => {
                                request["body_is_event_envelope"] = Value::from(true)
                            }
                            None => {}
                        }
                        request
                    });
                    let attempts = by_delivery.remove(&d.id).unwrap_or_default();
                    self.line(
                        &mut out,
                        "delivery",
                        json!({"id": d.id, "event_id": d.event_id,
                               "subscription_id": d.subscription_id, "status": d.status,
                               "attempt_count": d.attempt_count, "skip_reason": d.skip_reason,
                               "next_attempt_at": d.next_attempt_at.map(rfc3339),
                               "request": request, "payload_deleted": d.payload_deleted_note,
                               "attempts": attempts,
                               "created_at": rfc3339(d.created_at), "updated_at": rfc3339(d.updated_at)}),
                    );
                }
            }
            Phase::Erasures => {
                let rows = store::privacy::erasures(&db, &tenant).await?;
                for r in rows.into_iter().map(Erasure::from) {
                    let value = serde_json::to_value(&r).expect("an erasure serializes");
                    self.line(&mut out, "erasure", value);
                }
                self.phase = Phase::End;
            }
            Phase::End => {
                let counts = json!(self.counts);
                self.line(&mut out, "end", json!({ "counts": counts }));
                self.phase = Phase::Done;
            }
            Phase::Done => return Ok(None),
        }
        Ok((!out.is_empty()).then(|| Bytes::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_reads_back_in_its_largest_whole_unit() {
        assert_eq!(format_retention(parse_retention("30d").unwrap()), "30d");
        assert_eq!(format_retention(parse_retention("36h").unwrap()), "36h");
        assert_eq!(format_retention(parse_retention("1s").unwrap()), "1s");
        assert!(parse_retention("10ms").is_err());
        assert!(parse_retention("soon").is_err());
    }

    #[test]
    fn a_booking_is_matched_by_its_parsed_fields_and_phone_numbers_by_their_digits() {
        let data = include_str!("../../../fixtures/booking-created.json");
        let data = serde_json::from_str::<Value>(data).unwrap()["data"].to_string();
        let key = |r: ErasureRequest| Key::from_request(r).unwrap();
        let phone = key(ErasureRequest {
            booking_id: None,
            client_email: None,
            client_phone: Some("+4520123456".into()),
        });
        let mut needles = Needles::of(&phone);
        assert!(phone.matches_event(&data, &mut needles));
        assert!(
            needles.found_in("call +45 20 12 34 56"),
            "{:?}",
            needles.texts
        );
        let email = key(ErasureRequest {
            booking_id: None,
            client_email: Some("Jens.Odegaard@Example.com".into()),
            client_phone: None,
        });
        assert!(email.matches_event(&data, &mut Needles::of(&email)));
        assert!(Needles::of(&email).found_in("to: JENS.ODEGAARD@example.com"));
        let other = key(ErasureRequest {
            booking_id: Some("bk_104".into()),
            client_email: None,
            client_phone: None,
        });
        assert!(!other.matches_event(&data, &mut Needles::of(&other)));
        assert!(!Needles::of(&other).found_in("booking bk_1042"));
        assert!(Needles::of(&other).found_in("booking bk_104."));
    }

    #[test]
    fn an_erasure_needs_exactly_one_usable_key() {
        let none = ErasureRequest {
            booking_id: None,
            client_email: None,
            client_phone: None,
        };
        assert!(Key::from_request(none).is_err());
        let short = ErasureRequest {
            booking_id: None,
            client_email: None,
            client_phone: Some("12".into()),
        };
        assert!(Key::from_request(short).is_err());
    }
}
