//! Subscriptions: where a tenant's events go, which events, through which transform, signed
//! with which secret. Secrets are shown on create and rotate only, and stored encrypted
//! ([`crate::secrets`]).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::Caller;
use crate::api::error::{Error, Result};
use crate::api::events::Accepted;
use crate::api::extract::{Json, Path, Query, RawBody};
use crate::api::modules::find_version;
use crate::api::openapi::{TenantItemPath, TenantPath};
use crate::api::pagination::{Page, PageQuery};
use crate::destinations::check_url;
use crate::model::{DisabledReason, Event, EventType, ModuleRef, Transform};
use crate::signing::generate_secret;
use crate::state::AppState;
use crate::store::subscriptions::{Fields, Rotation, SubscriptionRow};
use crate::store::{self, Db, new_id, now_ms, rfc3339};
use crate::worker::ingest;

/// The subscription routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(read, update, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(enable_route))
}

/// A subscription as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    /// The subscription's id.
    pub id: String,
    /// Where deliveries are sent.
    pub url: String,
    /// The event types it receives (`booking.created`, `booking.updated`, `booking.deleted`,
    /// and krog's own `krog.subscription.disabled`, `krog.delivery.failed`).
    pub event_types: Vec<String>,
    /// The plugin that reshapes each event first; null: the event is sent as it is.
    pub transform: Option<Transform>,
    /// False: nothing is delivered (events are not queued for it).
    pub enabled: bool,
    /// Free text for people.
    pub description: String,
    /// Why it is stopped: `paused` (by a user), `gone` (the endpoint answered 410) or
    /// `failing` (every delivery failed for `KROG_DISABLE_AFTER`); null while enabled.
    pub disabled_reason: Option<DisabledReason>,
    /// RFC 3339: when it was stopped; null while enabled.
    pub disabled_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// The signing secret (`whsec_…`), only in the answers to create and rotate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<SubscriptionRow> for Subscription {
    fn from(row: SubscriptionRow) -> Self {
        Subscription {
            id: row.id,
            url: row.url,
            event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
            transform: row.transform.and_then(|t| serde_json::from_str(&t).ok()),
            enabled: row.enabled != 0,
            description: row.description,
            disabled_reason: row
                .disabled_reason
                .as_deref()
                .and_then(DisabledReason::parse),
            disabled_at: row.disabled_at.map(rfc3339),
            created_at: rfc3339(row.created_at),
            secret: None,
        }
    }
}

/// A new subscription.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.slack.com/services/T000/B000/XXXX",
    "event_types": ["booking.created", "booking.updated"],
    "transform": {"module": "slack", "config": {"locale": "da"}}}))]
pub struct NewSubscription {
    /// Where to deliver: `https://`, a public address.
    pub url: String,
    /// One or more of `booking.created`, `booking.updated`, `booking.deleted`, and krog's own
    /// `krog.subscription.disabled`, `krog.delivery.failed` (about the tenant's other
    /// subscriptions).
    pub event_types: Vec<String>,
    /// A plugin that reshapes each event first; the plugin is tried on a sample event of each
    /// type at save, and a config it refuses is a 422 with its message.
    #[serde(default)]
    pub transform: Option<Transform>,
    /// Default true.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub enabled: bool,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
}

fn yes() -> bool {
    true
}

/// A PATCH: absent fields stay; `"transform": null` removes the transform.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct Changes {
    /// A new destination.
    pub url: Option<String>,
    /// New event types.
    pub event_types: Option<Vec<String>>,
    /// A new transform; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Transform>)]
    pub transform: Option<Option<Transform>>,
    /// Turn deliveries on or off.
    pub enabled: Option<bool>,
    /// New free text.
    pub description: Option<String>,
}

/// Tells a present `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_event_types(types: &[String]) -> Result<String> {
    let known = || {
        EventType::ALL
            .into_iter()
            .chain(krog_rules::OPERATIONAL_EVENT_TYPES)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if types.is_empty() {
        return Err(Error::Validation(format!(
            "event_types must name at least one of {}",
            known()
        )));
    }
    for t in types {
        if crate::model::event::known_type(t).is_none() {
            return Err(Error::Validation(format!(
                "unknown event type {t:?}; expected one of {}",
                known()
            )));
        }
    }
    let mut unique = types.to_vec();
    unique.sort();
    unique.dedup();
    Ok(serde_json::to_string(&unique).expect("strings serialize"))
}

fn check_description(text: &str) -> Result<()> {
    if text.len() > 1000 {
        return Err(Error::Validation(
            "description must be at most 1000 characters".into(),
        ));
    }
    crate::store::check_plain_text("description", text).map_err(Error::Validation)?;
    Ok(())
}

/// The module must exist for this tenant, the config must fit the plugin's schema (an absent
/// config is the schema's default), and the plugin must not fail on a sample event of each of
/// `event_types` ([`crate::api::trial`]). Returns the transform to store, config filled in.
async fn check_transform(
    state: &AppState,
    tenant: &str,
    transform: &Transform,
    event_types: &[String],
) -> Result<String> {
    let module = ModuleRef::parse(&transform.module, tenant, transform.version)?;
    let version = match find_version(&state.db, &module).await {
        Ok(version) => version,
        Err(Error::NotFound(what)) => {
            let hint = crate::api::modules::naming_hint(&state.db, tenant, &module).await?;
            return Err(Error::Validation(format!(
                "transform: {what} does not exist{hint}"
            )));
        }
        Err(other) => return Err(other),
    };
    let schema = version.info.get("config_schema");
    let config = crate::plugin_config::resolve(schema, transform.config.clone())
        .await
        .map_err(|e| {
            Error::Validation(format!(
                "transform.config of module {}: {e}",
                transform.module
            ))
        })?;
    let compiled =
        crate::api::modules::compiled(&state.db, &state.runtime, &version.sha256).await?;
    crate::api::trial::try_transform(
        state,
        tenant,
        &transform.module,
        &compiled,
        &config,
        event_types,
    )
    .await?;
    let stored = Transform {
        config: Some(config),
        ..transform.clone()
    };
    Ok(serde_json::to_string(&stored).expect("serializable"))
}

/// Creates a subscription; the answer holds its signing secret, once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/subscriptions", operation_id = "create_subscription",
    tag = "subscriptions", params(TenantPath), request_body = NewSubscription,
    responses((status = 201, description = "The subscription, with its secret", body = Subscription)))]
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Json(new): Json<NewSubscription>,
) -> Result<(StatusCode, axum::Json<Subscription>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let subscription = create_subscription(&state, &tenant, new).await?;
    Ok((StatusCode::CREATED, axum::Json(subscription)))
}

/// Checks and stores a new subscription of `tenant` (an existing one, authorized by the
/// caller); the answer holds its signing secret, once.
pub async fn create_subscription(
    state: &AppState,
    tenant: &str,
    new: NewSubscription,
) -> Result<Subscription> {
    let url = check_url(&new.url, &state.config).map_err(Error::Validation)?;
    let event_types = check_event_types(&new.event_types)?;
    check_description(&new.description)?;
    let transform = match &new.transform {
        Some(t) => Some(check_transform(state, tenant, t, &new.event_types).await?),
        None => None,
    };
    let count = store::subscriptions::count(&state.db, tenant).await?;
    let quota = state.config.max_subscriptions_per_tenant;
    if count as usize >= quota {
        return Err(Error::Quota(format!(
            "tenant {tenant} has {count} subscriptions, the most allowed \
             (KROG_MAX_SUBSCRIPTIONS_PER_TENANT={quota}); delete one first"
        )));
    }
    let id = new_id("sub");
    let secret = generate_secret();
    let now = now_ms();
    let fields = Fields {
        url: url.as_str(),
        event_types: &event_types,
        transform: transform.as_deref(),
        enabled: new.enabled,
        description: &new.description,
        disabled_reason: (!new.enabled).then_some(DisabledReason::Paused),
        disabled_at: (!new.enabled).then_some(now),
        reset_failing: false,
    };
    let sealed = state.keyring.encrypt(&id, &secret);
    store::subscriptions::insert(&state.db, tenant, &id, &fields, &sealed, now).await?;
    state.directory.invalidate();
    let mut subscription = fetch(&state.db, tenant, &id).await?;
    subscription.secret = Some(secret);
    Ok(subscription)
}

/// The tenant's subscription `id`, or `NotFound`.
pub async fn fetch(db: &Db, tenant: &str, id: &str) -> Result<Subscription> {
    fetch_row(db, tenant, id).await.map(Into::into)
}

async fn fetch_row(db: &Db, tenant: &str, id: &str) -> Result<SubscriptionRow> {
    store::subscriptions::one(db, tenant, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("subscription {id}")))
}

/// Lists the tenant's subscriptions.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/subscriptions", operation_id = "list_subscriptions",
    tag = "subscriptions", params(TenantPath, PageQuery),
    responses((status = 200, description = "A page of subscriptions", body = Page<Subscription>)))]
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<axum::Json<Page<Subscription>>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let limit = page.limit();
    let rows = store::subscriptions::list(
        &state.db,
        &tenant,
        page.after.as_deref().unwrap_or(""),
        limit + 1,
    )
    .await?;
    let items = rows.into_iter().map(Subscription::from).collect();
    Ok(axum::Json(Page::new(items, limit, |s| s.id.clone())))
}

/// Reads a subscription.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/subscriptions/{id}", operation_id = "get_subscription",
    tag = "subscriptions", params(TenantItemPath),
    responses((status = 200, description = "The subscription", body = Subscription)))]
async fn read(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<axum::Json<Subscription>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    Ok(axum::Json(fetch(&state.db, &tenant, &id).await?))
}

/// Changes a subscription: absent fields stay as they are.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/subscriptions/{id}", operation_id = "update_subscription",
    tag = "subscriptions", params(TenantItemPath), request_body = Changes,
    responses((status = 200, description = "The subscription as changed", body = Subscription)))]
async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    Json(changes): Json<Changes>,
) -> Result<axum::Json<Subscription>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    Ok(axum::Json(
        change_subscription(&state, &tenant, &id, changes).await?,
    ))
}

/// Checks and saves `changes` to the tenant's subscription `id`: absent fields stay.
pub async fn change_subscription(
    state: &AppState,
    tenant: &str,
    id: &str,
    changes: Changes,
) -> Result<Subscription> {
    let row = fetch_row(&state.db, tenant, id).await?;
    let stopped_at = row.disabled_at;
    let current = Subscription::from(row);
    let url = match &changes.url {
        Some(url) => check_url(url, &state.config)
            .map_err(Error::Validation)?
            .to_string(),
        None => current.url,
    };
    let types = changes.event_types.as_ref().unwrap_or(&current.event_types);
    let event_types = check_event_types(types)?;
    // A new transform is tried on every type it will see; a kept one on the types added.
    let added: Vec<String> = types
        .iter()
        .filter(|t| !current.event_types.contains(t))
        .cloned()
        .collect();
    let transform = match (&changes.transform, &current.transform) {
        (Some(Some(t)), _) => Some(check_transform(state, tenant, t, types).await?),
        (Some(None), _) => None,
        (None, Some(t)) if !added.is_empty() => {
            Some(check_transform(state, tenant, t, &added).await?)
        }
        (None, kept) => kept
            .as_ref()
            .map(|t| serde_json::to_string(t).expect("serializable")),
    };
    let description = changes.description.unwrap_or(current.description);
    check_description(&description)?;
    let enabled = changes.enabled.unwrap_or(current.enabled);
    let now = now_ms();
    // Stopping it by hand is a pause; one already stopped keeps its reason and time; starting
    // it again clears them, and the failures counted.
    let (disabled_reason, disabled_at) = match (current.enabled, enabled) {
        (_, true) => (None, None),
        (true, false) => (Some(DisabledReason::Paused), Some(now)),
        (false, false) => (
            current.disabled_reason.or(Some(DisabledReason::Paused)),
            stopped_at.or(Some(now)),
        ),
    };
    let fields = Fields {
        url: &url,
        event_types: &event_types,
        transform: transform.as_deref(),
        enabled,
        description: &description,
        disabled_reason,
        disabled_at,
        reset_failing: enabled && !current.enabled,
    };
    store::subscriptions::update(&state.db, tenant, id, &fields, now).await?;
    state.directory.invalidate();
    fetch(&state.db, tenant, id).await
}

/// Deletes a subscription.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/subscriptions/{id}", operation_id = "delete_subscription",
    tag = "subscriptions", params(TenantItemPath),
    responses((status = 204, description = "Deleted")))]
async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    caller.require_tenant(&state.directory, &tenant).await?;
    delete_subscription(&state, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the tenant's subscription `id`, or `NotFound`.
pub async fn delete_subscription(state: &AppState, tenant: &str, id: &str) -> Result<()> {
    let deleted = store::subscriptions::delete(&state.db, tenant, id).await?;
    state.directory.invalidate();
    if !deleted {
        return Err(Error::NotFound(format!("subscription {id}")));
    }
    Ok(())
}

/// Rotates the signing secret; the old one signs alongside for the overlap.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/subscriptions/{id}/rotate-secret",
    operation_id = "rotate_subscription_secret", tag = "subscriptions", params(TenantItemPath),
    responses((status = 200, description = "The subscription, with its new secret", body = Subscription)))]
async fn rotate_secret(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<axum::Json<Subscription>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    Ok(axum::Json(rotate(&state, &tenant, &id).await?))
}

/// Gives the tenant's subscription `id` a new signing secret; the answer holds it, once.
pub async fn rotate(state: &AppState, tenant: &str, id: &str) -> Result<Subscription> {
    let mut subscription = fetch(&state.db, tenant, id).await?;
    let now = now_ms();
    let secret = generate_secret();
    let quota = state.config.max_live_secrets;
    let rotation = store::subscriptions::rotate_secret(
        &state.db,
        id,
        &state.keyring.encrypt(id, &secret),
        now,
        // The old secret keeps signing for the overlap, so receivers can switch without a gap.
        now + state.config.secret_overlap.as_millis() as i64,
        quota as i64,
    )
    .await?;
    if let Rotation::TooManyLive { live, soonest } = rotation {
        return Err(Error::Quota(format!(
            "subscription {id} already has {live} secrets that sign (KROG_MAX_LIVE_SECRETS={quota}); \
             the oldest stops signing at {}, rotate again after that",
            soonest
                .map(rfc3339)
                .unwrap_or_else(|| "the end of its overlap".into())
        )));
    }
    state.directory.invalidate();
    subscription.secret = Some(secret);
    Ok(subscription)
}

/// What starting a subscription again carries; the body may also be empty.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"resend_failed": true}))]
pub(crate) struct EnableRequest {
    /// Also send again every delivery of it that failed since it started failing (or, when
    /// that is not known, since it was stopped). Default false.
    #[serde(default)]
    resend_failed: bool,
}

/// A subscription started again, and how many failed deliveries were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enabled {
    /// The subscription as it is now: enabled, no `disabled_reason`.
    pub subscription: Subscription,
    /// Deliveries queued again (`resend_failed`); 0 without it.
    pub resent: usize,
}

/// Starts subscription `id` of `tenant` again: enabled, its `disabled_reason`, `disabled_at`
/// and failure count cleared; with `resend_failed`, every delivery of it that failed since it
/// started failing (or since it was stopped, when that is not known) is queued again. For the
/// API and the console alike; the caller has checked that it may touch `tenant`.
pub async fn enable(
    state: &AppState,
    tenant: &str,
    id: &str,
    resend_failed: bool,
) -> Result<Enabled> {
    let row = fetch_row(&state.db, tenant, id).await?;
    let since = row.failing_since.or(row.disabled_at);
    if !store::subscriptions::enable(&state.db, tenant, id, now_ms()).await? {
        return Err(Error::NotFound(format!("subscription {id}")));
    }
    // Enabled before anything is queued again, so that no resent delivery finds it stopped.
    state.directory.invalidate();
    let resent = match (resend_failed, since) {
        (true, Some(since)) => {
            crate::api::deliveries::retry_failed_since(state, tenant, since, Some(id)).await?
        }
        _ => 0,
    };
    Ok(Enabled {
        subscription: fetch(&state.db, tenant, id).await?,
        resent,
    })
}

/// Starts a stopped subscription again (paused, gone or failing), optionally sending again
/// what failed meanwhile.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/subscriptions/{id}/enable",
    operation_id = "enable_subscription", tag = "subscriptions", params(TenantItemPath),
    request_body(content = Option<EnableRequest>),
    responses((status = 200, description = "The subscription, enabled, and how many failed \
        deliveries were queued again", body = Enabled,
        example = json!({"subscription": {"id": "sub_01JDX4K7", "url": "https://hooks.slack.com/services/T000/B000/XXXX",
            "event_types": ["booking.created"], "transform": null, "enabled": true, "description": "",
            "disabled_reason": null, "disabled_at": null, "created_at": "2026-12-01T09:00:00.000Z"},
            "resent": 3}))))]
async fn enable_route(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<axum::Json<Enabled>> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let request: EnableRequest = if body.is_empty() {
        EnableRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(Error::from_json_error)?
    };
    Ok(axum::Json(
        enable(&state, &tenant, &id, request.resend_failed).await?,
    ))
}

/// What a test send carries; the body may also be empty.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    /// The sample event's type; default `booking.created`.
    #[serde(default)]
    event_type: Option<EventType>,
}

/// The sample booking a test send carries.
const SAMPLE_BOOKING: &str = include_str!("../../../fixtures/booking-created.json");

/// Sends a sample booking event to this subscription.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/subscriptions/{id}/test",
    operation_id = "test_subscription", tag = "subscriptions", params(TenantItemPath),
    request_body(content = Option<TestRequest>),
    responses((status = 202, description = "The sample event, accepted", body = Accepted)))]
async fn send_test(
    caller: Caller,
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, axum::Json<Accepted>)> {
    caller.require_tenant(&state.directory, &tenant).await?;
    let request: TestRequest = if body.is_empty() {
        TestRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(Error::from_json_error)?
    };
    let event_type = request.event_type.unwrap_or(EventType::Created);
    let accepted = send_sample(&state, &tenant, &id, event_type).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)))
}

/// A sample booking event of `event_type`, with a fresh id and the time now.
pub fn sample_event(event_type: EventType) -> Event {
    let sample: serde_json::Value = serde_json::from_str(SAMPLE_BOOKING).expect("fixture is JSON");
    Event {
        id: new_id("evt_test"),
        event_type: event_type.as_str(),
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        data: sample["data"].to_string(),
    }
}

/// Sends a sample booking event of `event_type` to the tenant's subscription `id` only.
pub async fn send_sample(
    state: &AppState,
    tenant: &str,
    id: &str,
    event_type: EventType,
) -> Result<Accepted> {
    fetch(&state.db, tenant, id).await?;
    Ok(
        ingest::accept(state, tenant, sample_event(event_type), Some(id))
            .await?
            .into(),
    )
}

/// Subscriptions whose transform resolves to this module version now: pinned to it, or
/// unpinned while it is the latest (`latest`), to refuse deleting it.
pub async fn resolving_to(db: &Db, module: &ModuleRef, latest: i64) -> Result<Vec<String>> {
    let owner_filter = if module.owner.is_empty() {
        None
    } else {
        Some(module.owner.as_str())
    };
    let rows = store::subscriptions::with_transforms(db, owner_filter).await?;
    Ok(rows
        .into_iter()
        .filter(|(_, tenant, transform)| {
            serde_json::from_str::<Transform>(transform)
                .ok()
                .and_then(|t| ModuleRef::parse(&t.module, tenant, t.version).ok())
                .is_some_and(|r| {
                    r.owner == module.owner
                        && r.name == module.name
                        && r.version.unwrap_or(latest) == module.version.unwrap_or(latest)
                })
        })
        .map(|(id, _, _)| id)
        .collect())
}
