//! The delivery log: every delivery with its attempts and the request that was sent, and
//! replay (one delivery, or every failed one since a time). The work itself is in
//! [`crate::worker::attempt`].

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use std::collections::HashMap;

use crate::api::error::{Error, Result};
use crate::api::extract::{Json, Path, Query};
use crate::api::openapi::{TenantItemPath, TenantPath};
use crate::api::pagination::Page;
use crate::model::{DeliveryStatus, Event};
use crate::state::AppState;
use crate::store::deliveries::{AttemptRow, DeliveryRow};
use crate::store::{self, now_ms, rfc3339};

/// The delivery-log routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retry_failed))
        .routes(routes!(read))
        .routes(routes!(retry_one))
}

/// One attempt as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
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
    kind: Option<String>,
    /// The start of the receiver's answer.
    response: Option<String>,
}

impl From<AttemptRow> for Attempt {
    fn from(row: AttemptRow) -> Attempt {
        Attempt {
            at: row.at,
            duration_ms: row.duration_ms,
            status_code: row.status_code,
            error: row.error,
            kind: row.error_kind,
            response: row.response,
        }
    }
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

/// A stored delivery as the API shows it.
fn into_delivery(
    row: DeliveryRow,
    attempts: Vec<Attempt>,
    request: Option<SentRequest>,
) -> Delivery {
    Delivery {
        next_attempt_at: row
            .next_attempt_at
            .filter(|_| row.status == DeliveryStatus::Pending.as_str())
            .map(rfc3339),
        id: row.id,
        event_id: row.event_id,
        subscription_id: row.subscription_id,
        status: row.status,
        skip_reason: row.skip_reason,
        attempts,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        request,
        payload_deleted: None,
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
        && DeliveryStatus::parse(status).is_none()
    {
        let names: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
        return Err(Error::Validation(format!(
            "unknown status {status:?}; expected one of {}",
            names.join(", ")
        )));
    }
    let limit = filter.limit.unwrap_or(50).clamp(1, 200);
    let rows = store::deliveries::list(
        &state.db,
        &tenant,
        &store::deliveries::Filter {
            subscription_id: filter.subscription_id.as_deref(),
            status: filter.status.as_deref(),
            event_id: filter.event_id.as_deref(),
            before: filter.after.as_deref(),
        },
        limit + 1,
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut attempts: HashMap<String, Vec<Attempt>> = HashMap::new();
    for attempt in store::deliveries::attempts_of(&state.db, &ids).await? {
        attempts
            .entry(attempt.delivery_id.clone())
            .or_default()
            .push(attempt.into());
    }
    let deliveries = rows
        .into_iter()
        .map(|row| {
            let of_row = attempts.remove(&row.id).unwrap_or_default();
            into_delivery(row, of_row, None)
        })
        .collect();
    Ok(axum::Json(Page::new(deliveries, limit, |d| d.id.clone())))
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
    let row = store::deliveries::one(&state.db, &tenant, &id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("delivery {id}")))?;
    let sent = store::deliveries::sent(&state.db, &id).await?;
    let store::deliveries::SentRow {
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
            let event = Event {
                id: String::new(),
                event_type: crate::model::event::known_type(&event_type).unwrap_or(""),
                timestamp,
                data,
            };
            event.envelope()
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
    let attempts = store::deliveries::attempts_of(&state.db, std::slice::from_ref(&id))
        .await?
        .into_iter()
        .map(Attempt::from)
        .collect();
    let mut delivery = into_delivery(row, attempts, request);
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
        store::deliveries::requeue(&state.db, tenant, chunk, now).await?;
        state.queue.wake_scheduler();
    }
    Ok(())
}

/// Sets the tenant's settled delivery `id` back to pending, due now.
pub async fn retry_delivery(state: &AppState, tenant: &str, id: &str) -> Result<()> {
    let row = store::deliveries::one(&state.db, tenant, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("delivery {id}")))?;
    if row.status == DeliveryStatus::Pending.as_str() {
        return Err(Error::Conflict(format!("delivery {id} is already pending")));
    }
    requeue(state, tenant, vec![id.to_owned()]).await
}

/// Sets every delivery of the tenant that failed at or after `since` (ms), maybe of one
/// subscription only, back to pending; how many.
pub async fn retry_failed_since(
    state: &AppState,
    tenant: &str,
    since: i64,
    subscription_id: Option<&str>,
) -> Result<usize> {
    let ids = store::deliveries::failed_since(&state.db, tenant, since, subscription_id).await?;
    let count = ids.len();
    requeue(state, tenant, ids).await?;
    Ok(count)
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
    retry_delivery(&state, &tenant, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Requeued {
            id,
            status: DeliveryStatus::Pending.as_str().to_owned(),
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
    let count =
        retry_failed_since(&state, &tenant, since, request.subscription_id.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(RetriedCount { retried: count }),
    ))
}
