//! The delivery log: every delivery with its attempts and the request that was sent, and
//! replay (one delivery, or every failed one since a time). The work itself is in
//! [`attempt`].

pub mod attempt;
pub mod report;

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::db::{now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::extract::{Json, Path, Query};
use crate::openapi::{TenantItemPath, TenantPath};
use crate::pagination::Page;
use crate::state::AppState;

/// The delivery-log routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retry_failed))
        .routes(routes!(read))
        .routes(routes!(retry_one))
}

/// One attempt as the API shows it.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Attempt {
    /// When it started, RFC 3339.
    #[serde(serialize_with = "as_rfc3339")]
    #[schema(value_type = String)]
    at: i64,
    /// How long it took, the plugin included.
    duration_ms: i64,
    /// The receiver's HTTP status, if it answered.
    status_code: Option<i64>,
    /// What went wrong, for people.
    error: Option<String>,
    /// What kind of failure: `http_status`, `timeout`, `connect`, a plugin failure kind …
    #[sqlx(rename = "error_kind")]
    kind: Option<String>,
    /// The start of the receiver's answer.
    response: Option<String>,
}

fn as_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

/// The request krog sent (or would send) for a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct SentRequest {
    /// The body's content type.
    content_type: String,
    /// Every header sent, as `[name, value]` pairs: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature` and the plugin's own.
    #[schema(value_type = Vec<Vec<String>>)]
    headers: Vec<(String, String)>,
    /// The body as text when it is UTF-8 …
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// … else base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    /// Instead of a body: why it is no longer stored ("payload deleted after 30 days
    /// (retention)", "payload erased on request (erasure …)").
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_deleted: Option<String>,
}

/// What a delivery sent, with its event for rebuilding an envelope.
#[derive(sqlx::FromRow)]
struct SentRow {
    request_content_type: Option<String>,
    request_headers: Option<String>,
    request_body: Option<Vec<u8>>,
    delivery_deleted: Option<String>,
    event_type: String,
    timestamp: String,
    data: String,
    event_deleted: Option<String>,
}

/// A delivery as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// The delivery's id.
    id: String,
    /// The event delivered.
    event_id: String,
    /// Where to.
    subscription_id: String,
    /// `pending`, `succeeded`, `skipped` (the plugin chose not to send) or `failed`.
    status: String,
    /// The plugin's reason for skipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    skip_reason: Option<String>,
    /// Every attempt so far, oldest first.
    attempts: Vec<Attempt>,
    /// RFC 3339, while pending.
    next_attempt_at: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
    /// What was sent (reading one delivery only).
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<SentRequest>,
    /// Set when the event's payload or this delivery's body was deleted (retention, erasure).
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_deleted: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    event_id: String,
    subscription_id: String,
    status: String,
    skip_reason: Option<String>,
    next_attempt_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str =
    "id, event_id, subscription_id, status, skip_reason, next_attempt_at, created_at, updated_at";

impl Row {
    fn into_delivery(self, attempts: Vec<Attempt>, request: Option<SentRequest>) -> Delivery {
        Delivery {
            next_attempt_at: self
                .next_attempt_at
                .filter(|_| self.status == "pending")
                .map(rfc3339),
            id: self.id,
            event_id: self.event_id,
            subscription_id: self.subscription_id,
            status: self.status,
            skip_reason: self.skip_reason,
            attempts,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            request,
            payload_deleted: None,
        }
    }
}

/// `?subscription_id=&status=&event_id=&limit=&after=`
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Filter {
    /// Only this subscription's deliveries.
    subscription_id: Option<String>,
    /// Only `pending`, `succeeded`, `skipped` or `failed` ones.
    status: Option<String>,
    /// Only this event's deliveries.
    event_id: Option<String>,
    /// At most this many (1–200, default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    after: Option<String>,
}

/// A delivery queued again.
#[derive(Serialize, ToSchema)]
pub(crate) struct Requeued {
    /// The delivery's id.
    id: String,
    /// Always `pending`.
    status: String,
}

/// How many failed deliveries were queued again.
#[derive(Serialize, ToSchema)]
pub(crate) struct RetriedCount {
    /// The count.
    retried: usize,
}

const STATUSES: [&str; 4] = ["pending", "succeeded", "skipped", "failed"];

/// The delivery log, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deliveries", operation_id = "list_deliveries",
    tag = "deliveries", params(TenantPath, Filter),
    responses((status = 200, description = "A page of deliveries", body = Page<Delivery>)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(filter): Query<Filter>,
) -> Result<axum::Json<Page<Delivery>>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    if let Some(status) = &filter.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(Error::Validation(format!(
            "unknown status {status:?}; expected one of {}",
            STATUSES.join(", ")
        )));
    }
    let limit = filter.limit.unwrap_or(50).clamp(1, 200);
    // Newest first; optional filters are written so that one statement serves every mix.
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE tenant_id = $1 \
         AND ($2 = '' OR subscription_id = $2) AND ($3 = '' OR status = $3) \
         AND ($4 = '' OR event_id = $4) AND ($5 = '' OR id < $5) ORDER BY id DESC LIMIT $6"
    ))
    .bind(&tenant)
    .bind(filter.subscription_id.as_deref().unwrap_or(""))
    .bind(filter.status.as_deref().unwrap_or(""))
    .bind(filter.event_id.as_deref().unwrap_or(""))
    .bind(filter.after.as_deref().unwrap_or(""))
    .bind(limit + 1)
    .fetch_all(state.db.pool())
    .await?;
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in rows {
        let attempts = attempts_of(&state, &row.id).await?;
        deliveries.push(row.into_delivery(attempts, None));
    }
    Ok(axum::Json(Page::new(deliveries, limit, |d| d.id.clone())))
}

async fn attempts_of(state: &AppState, id: &str) -> Result<Vec<Attempt>> {
    Ok(sqlx::query_as(
        "SELECT at, duration_ms, status_code, error, error_kind, response FROM attempts \
         WHERE delivery_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(state.db.pool())
    .await?)
}

/// A delivery with its attempts and the request sent.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deliveries/{id}", operation_id = "get_delivery",
    tag = "deliveries", params(TenantItemPath),
    responses((status = 200, description = "The delivery", body = Delivery)))]
async fn read(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<axum::Json<Delivery>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let row: Row = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM deliveries WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(&tenant)
    .bind(&id)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| Error::NotFound(format!("delivery {id}")))?;
    let sent: SentRow = sqlx::query_as(
        "SELECT d.request_content_type, d.request_headers, d.request_body, \
         d.payload_deleted_note AS delivery_deleted, \
         e.event_type, e.timestamp, e.data, e.payload_deleted_note AS event_deleted \
         FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
         WHERE d.id = $1",
    )
    .bind(&id)
    .fetch_one(state.db.pool())
    .await?;
    let SentRow {
        request_content_type,
        request_headers: headers,
        request_body,
        delivery_deleted,
        event_type,
        timestamp,
        data,
        event_deleted,
    } = sent;
    let note = delivery_deleted.clone().or_else(|| event_deleted.clone());
    let request = request_content_type.map(|content_type| {
        // A body that is gone is said to be gone, rather than rebuilt from an empty payload.
        let deleted = match &request_body {
            Some(_) => None,
            None => delivery_deleted.or(event_deleted),
        };
        if let Some(note) = deleted {
            return SentRequest {
                content_type,
                headers: Vec::new(),
                body: None,
                body_base64: None,
                payload_deleted: Some(note),
            };
        }
        // No body beside a content type: it was the event's envelope (not stored twice).
        let body = request_body.unwrap_or_else(|| {
            let event = crate::events::Event {
                id: String::new(),
                event_type: crate::events::EventType::parse(&event_type).map_or("", |t| t.as_str()),
                timestamp,
                data,
            };
            attempt::envelope_body(&event)
        });
        let (text, base64) = match String::from_utf8(body) {
            Ok(text) => (Some(text), None),
            Err(e) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
            ),
        };
        SentRequest {
            content_type,
            headers: headers
                .and_then(|h| serde_json::from_str(&h).ok())
                .unwrap_or_default(),
            body: text,
            body_base64: base64,
            payload_deleted: None,
        }
    });
    let attempts = attempts_of(&state, &id).await?;
    let mut delivery = row.into_delivery(attempts, request);
    delivery.payload_deleted = note;
    Ok(axum::Json(delivery))
}

/// Deliveries set back to pending per transaction by a bulk retry.
const REQUEUE_CHUNK: usize = 500;

/// Sets settled deliveries back to pending and due now, in transactions of
/// [`REQUEUE_CHUNK`], for the scheduler to claim in its batches: a retry of thousands
/// neither holds one long transaction nor floods the workers ahead of other tenants' work.
async fn requeue(state: &AppState, tenant: &str, ids: Vec<String>) -> Result<()> {
    let now = now_ms();
    for chunk in ids.chunks(REQUEUE_CHUNK) {
        let mut tx = state.db.begin_write().await?;
        for id in chunk {
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
        crate::queue::announce(&mut tx, state.db.backend()).await?;
        tx.commit().await?;
        state.queue.wake_scheduler();
    }
    Ok(())
}

/// Sends one delivery again (after fixing the receiver, the module or its config).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deliveries/{id}/retry", operation_id = "retry_delivery",
    tag = "deliveries", params(TenantItemPath),
    responses((status = 202, description = "Queued again", body = Requeued)))]
async fn retry_one(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<(StatusCode, axum::Json<Requeued>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM deliveries WHERE tenant_id = $1 AND id = $2")
            .bind(&tenant)
            .bind(&id)
            .fetch_optional(state.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("delivery {id}")))?;
    if status == "pending" {
        return Err(Error::Conflict(format!("delivery {id} is already pending")));
    }
    requeue(&state, &tenant, vec![id.clone()]).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Requeued {
            id,
            status: "pending".to_owned(),
        }),
    ))
}

/// Which failed deliveries to retry.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-12-01T00:00:00Z"}))]
pub(crate) struct RetryFailed {
    /// RFC 3339: deliveries that failed at or after this time.
    since: String,
    /// Only this subscription's.
    subscription_id: Option<String>,
}

/// Retries every failed delivery since a time.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deliveries/retry", operation_id = "retry_failed_deliveries",
    tag = "deliveries", params(TenantPath), request_body = RetryFailed,
    responses((status = 202, description = "How many were queued again", body = RetriedCount)))]
async fn retry_failed(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(request): Json<RetryFailed>,
) -> Result<(StatusCode, axum::Json<RetriedCount>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let since = chrono::DateTime::parse_from_rfc3339(&request.since)
        .map_err(|e| Error::Validation(format!("since {:?} is not RFC 3339: {e}", request.since)))?
        .timestamp_millis();
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM deliveries WHERE tenant_id = $1 AND status = 'failed' AND updated_at >= $2 \
         AND ($3 = '' OR subscription_id = $3) ORDER BY id",
    )
    .bind(&tenant)
    .bind(since)
    .bind(request.subscription_id.as_deref().unwrap_or(""))
    .fetch_all(state.db.pool())
    .await?;
    let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
    let count = ids.len();
    requeue(&state, &tenant, ids).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(RetriedCount { retried: count }),
    ))
}
