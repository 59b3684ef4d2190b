//! One integration: its state (with a banner and one button when krog stopped it), its
//! actions (edit, pause/resume, send a test, a new secret, delete), and its deliveries, newest
//! first, each opening to its attempts, with "Send again" for one or for every failed one.
//! Every action is the API's own operation, behind a CSRF-checked form.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::add::secret_page;
use super::describe::{self, State as Health};
use super::page::{Failure, Problem, query_value, respond, shell};
use super::session::{Posted, Session};
use crate::api::deliveries::{retry_delivery, retry_failed_since};
use crate::api::subscriptions::{
    Changes, Subscription, change_subscription, delete_subscription, fetch,
    rotate as rotate_secret, send_sample,
};
use crate::model::{DeliveryStatus, EventType};
use crate::state::AppState;
use crate::store::deliveries::{AttemptRow, DeliveryRow, Filter};
use crate::store::{self};

/// Deliveries per page.
const PAGE: i64 = 25;

/// The integration page. Its query: `status` (a filter), `before` (a page), `done` and `n`
/// (the result of the action that led here).
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, Failure> {
    let t = session.lang.texts();
    let subscription = fetch(&state.db, &session.tenant, &id)
        .await
        .map_err(|e| session.fail(e))?;
    let status = query_value(&uri, "status")
        .as_deref()
        .and_then(DeliveryStatus::parse)
        .map(DeliveryStatus::as_str);
    let before = query_value(&uri, "before").filter(|b| b.len() <= 64);
    let filter = Filter {
        subscription_id: Some(&id),
        status,
        before: before.as_deref(),
        ..Filter::default()
    };
    let deliveries = store::deliveries::list(&state.db, &session.tenant, &filter, PAGE + 1)
        .await
        .map_err(|e| session.fail(e))?;
    let more = deliveries.len() as i64 > PAGE;
    let deliveries: Vec<DeliveryRow> = deliveries.into_iter().take(PAGE as usize).collect();
    let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
    let attempts = store::deliveries::attempts_of(&state.db, &ids)
        .await
        .map_err(|e| session.fail(e))?;
    let n = query_value(&uri, "n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let notice = match query_value(&uri, "done").as_deref() {
        Some("saved") => Some(t.done_saved.to_owned()),
        Some("paused") => Some(t.done_paused.to_owned()),
        Some("resumed") => Some(t.done_resumed.to_owned()),
        Some("test") => Some(t.done_test.to_owned()),
        Some("retried_all") => Some((t.done_retried_all)(n)),
        Some("enabled") => Some((t.done_enabled)(n)),
        _ => None,
    };
    let health = Health::of(&subscription);
    let base = format!("/console/integrations/{id}");
    let body = html! {
        (banner(&session, &subscription, health))
        dl.summary {
            dt { (t.goes_to) } dd { (describe::host(&subscription.url)) }
            dt { (t.events) }
            dd { (subscription.event_types.iter().map(|e| describe::event_words(t, e)).collect::<Vec<_>>().join(", ")) }
            dt { (t.status) } dd { span class={ "state " (health.class()) } { (health.words(t)) } }
        }
        div.actions {
            a.button href={ (base) "/edit" } { (t.edit) }
            @if health == Health::Active {
                (action_button(&session, &format!("{base}/pause"), t.pause, false))
            } @else if health == Health::Paused {
                (action_button(&session, &format!("{base}/resume"), t.resume, false))
            }
            (action_button(&session, &format!("{base}/test"), t.send_test, false))
            form.inline method="post" action={ (base) "/rotate" } {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="once" value=(super::add::once());
                button type="submit" { (t.rotate) }
            }
            a.button.danger href={ (base) "/delete" } { (t.delete) }
        }
        h2 #deliveries { (t.deliveries) }
        div.actions {
            form.inline method="get" action=(base) {
                label for="status" { (t.show_deliveries) " " }
                select #status name="status" {
                    option value="" { (t.filter_all) }
                    @for s in ["succeeded", "failed", "pending", "skipped"] {
                        option value=(s) selected[status == Some(s)] { (describe::status_words(t, s)) }
                    }
                }
                " "
                button type="submit" { (t.show) }
            }
            (action_button(&session, &format!("{base}/retry-failed"), t.send_again_all, false))
        }
        @if deliveries.is_empty() {
            p { (t.no_deliveries) }
        } @else {
            div.table-scroll {
                table.deliveries {
                    thead { tr {
                        th scope="col" { (t.col_time) }
                        th scope="col" { (t.col_result) }
                        th scope="col" { (t.col_attempts) }
                        th scope="col" { span.visually-hidden { (t.send_again) } }
                    } }
                    tbody {
                        @for d in &deliveries {
                            @let mine: Vec<&AttemptRow> = attempts.iter().filter(|a| a.delivery_id == d.id).collect();
                            tr {
                                td { a href={ (base) "/deliveries/" (d.id) } { (describe::time(d.created_at)) } }
                                td { span class={ "result result-" (d.status) } { (describe::status_words(t, &d.status)) } }
                                td {
                                    (mine.len())
                                    @if let Some(last) = mine.last() {
                                        @let error = describe::attempt_error(t, last.error_kind.as_deref(), last.status_code);
                                        @if !error.is_empty() { " · " (error) }
                                    }
                                }
                                td {
                                    @if d.status != DeliveryStatus::Pending.as_str() {
                                        form.inline method="post" action={ (base) "/deliveries/" (d.id) "/retry" } {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            button type="submit" {
                                                (t.send_again)
                                                span.visually-hidden { " (" (describe::time(d.created_at)) ")" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if more {
                @if let Some(last) = deliveries.last() {
                    p { a href={ (base) "?before=" (last.id) @if let Some(s) = status { "&status=" (s) } "#deliveries" } { (t.older) } }
                }
            }
        }
    };
    Ok(respond(shell(
        session.chrome(),
        &describe::name(t, &subscription),
        notice.as_deref(),
        body,
    )))
}

/// The banner of an integration that does not deliver: why, and the one button that starts it
/// again (and resends what failed, when krog stopped it).
fn banner(session: &Session, subscription: &Subscription, health: Health) -> Markup {
    let t = session.lang.texts();
    let base = format!("/console/integrations/{}", subscription.id);
    match health {
        Health::Active => html! {},
        Health::Paused => html! {
            div.banner role="status" {
                p { (t.banner_paused) }
                (action_button(session, &format!("{base}/resume"), t.resume, true))
            }
        },
        Health::Failing | Health::Gone => {
            let text = if health == Health::Gone {
                t.banner_gone.to_owned()
            } else {
                (t.banner_failing)(
                    &subscription
                        .disabled_at
                        .as_deref()
                        .map(describe::time_of)
                        .unwrap_or_default(),
                )
            };
            html! {
                div.banner.banner-stopped role="alert" {
                    p { (text) }
                    (action_button(session, &format!("{base}/enable"), t.enable_resend, true))
                }
            }
        }
    }
}

/// A one-button form that posts to `action` with the session's CSRF token.
fn action_button(session: &Session, action: &str, label: &str, primary: bool) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(session.csrf);
            button.primary[primary] type="submit" { (label) }
        }
    }
}

fn back(id: &str, done: &str) -> Response {
    Redirect::to(&format!("/console/integrations/{id}?done={done}")).into_response()
}

fn set_enabled(enabled: bool) -> Changes {
    Changes {
        url: None,
        event_types: None,
        transform: None,
        enabled: Some(enabled),
        description: None,
    }
}

/// Pauses the integration.
pub async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, Failure> {
    change_subscription(&state, &session.tenant, &id, set_enabled(false))
        .await
        .map_err(|e| session.fail(e))?;
    Ok(back(&id, "paused"))
}

/// Resumes a paused integration.
pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, Failure> {
    change_subscription(&state, &session.tenant, &id, set_enabled(true))
        .await
        .map_err(|e| session.fail(e))?;
    Ok(back(&id, "resumed"))
}

/// Starts an integration krog stopped, and resends what failed since it started failing.
pub async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, Failure> {
    let resent = crate::api::subscriptions::enable(&state, &session.tenant, &id, true)
        .await
        .map_err(|e| session.fail(e))?
        .resent;
    Ok(Redirect::to(&format!(
        "/console/integrations/{id}?done=enabled&n={resent}"
    ))
    .into_response())
}

/// Sends a sample booking to the integration.
pub async fn send_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, Failure> {
    send_sample(&state, &session.tenant, &id, EventType::Created)
        .await
        .map_err(|e| session.fail(e))?;
    Ok(back(&id, "test"))
}

/// Gives the integration a new signing secret and shows it, once. The same form sent again
/// (a reload of the answer) rotates nothing more.
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, form }: Posted,
) -> Result<Response, Failure> {
    if !super::add::first_time(&state, &session, &form).await? {
        return Ok(back(&id, "rotated"));
    }
    let subscription = rotate_secret(&state, &session.tenant, &id)
        .await
        .map_err(|e| session.fail(e))?;
    Ok(respond(secret_page(&session, &subscription, false)))
}

/// Asks before deleting.
pub async fn confirm_delete(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let t = session.lang.texts();
    let subscription = fetch(&state.db, &session.tenant, &id)
        .await
        .map_err(|e| session.fail(e))?;
    let body = html! {
        p { (t.delete_body) }
        div.actions {
            (action_button(&session, &format!("/console/integrations/{id}/delete"), t.delete_confirm, true))
            a href={ "/console/integrations/" (id) } { (t.cancel) }
        }
    };
    Ok(respond(shell(
        session.chrome(),
        &(t.delete_title)(&describe::name(t, &subscription)),
        None,
        body,
    )))
}

/// Deletes the integration.
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, Failure> {
    delete_subscription(&state, &session.tenant, &id)
        .await
        .map_err(|e| session.fail(e))?;
    Ok(Redirect::to("/console/?done=deleted").into_response())
}

/// Sends every failed delivery of the integration again.
pub async fn retry_failed(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session, .. }: Posted,
) -> Result<Response, Failure> {
    fetch(&state.db, &session.tenant, &id)
        .await
        .map_err(|e| session.fail(e))?;
    let count = retry_failed_since(&state, &session.tenant, 0, Some(&id))
        .await
        .map_err(|e| session.fail(e))?;
    Ok(Redirect::to(&format!(
        "/console/integrations/{id}?done=retried_all&n={count}"
    ))
    .into_response())
}

/// The integration's delivery `delivery`, or 404 (also for another integration's).
async fn delivery_of(
    state: &AppState,
    session: &Session,
    id: &str,
    delivery: &str,
) -> Result<DeliveryRow, Failure> {
    store::deliveries::one(&state.db, &session.tenant, delivery)
        .await
        .map_err(|e| session.fail(e))?
        .filter(|d| d.subscription_id == id)
        .ok_or(session.fail(Problem::NotFound))
}

/// One delivery and its attempts.
pub async fn delivery(
    State(state): State<AppState>,
    session: Session,
    Path((id, delivery)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, Failure> {
    let t = session.lang.texts();
    let row = delivery_of(&state, &session, &id, &delivery).await?;
    let attempts = store::deliveries::attempts_of(&state.db, std::slice::from_ref(&row.id))
        .await
        .map_err(|e| session.fail(e))?;
    let notice =
        (query_value(&uri, "done").as_deref() == Some("retried")).then_some(t.done_retried);
    let base = format!("/console/integrations/{id}");
    let body = html! {
        p { a href={ (base) "#deliveries" } { "← " (t.deliveries) } }
        dl.summary {
            dt { (t.col_time) } dd { (describe::time(row.created_at)) }
            dt { (t.col_result) }
            dd { span class={ "result result-" (row.status) } { (describe::status_words(t, &row.status)) } }
        }
        @if let Some(reason) = &row.skip_reason {
            p { ((t.skipped_because)(reason)) }
        }
        @if let Some(next) = row.next_attempt_at.filter(|_| row.status == DeliveryStatus::Pending.as_str()) {
            p { ((t.next_attempt)(&describe::time(next))) }
        }
        @if row.status != DeliveryStatus::Pending.as_str() {
            div.actions {
                (action_button(&session, &format!("{base}/deliveries/{}/retry", row.id), t.send_again, true))
            }
        }
        h2 { (t.attempts) }
        @if attempts.is_empty() {
            p { (t.no_attempts) }
        } @else {
            ol.attempts {
                @for a in &attempts {
                    li.attempt {
                        dl {
                            dt { (t.col_time) } dd { (describe::time(a.at)) }
                            dt { (t.col_duration) } dd { (a.duration_ms) " ms" }
                            dt { (t.col_answer) } dd { (a.status_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())) }
                            @let plain = describe::attempt_error(t, a.error_kind.as_deref(), a.status_code);
                            @if !plain.is_empty() || a.error.is_some() {
                                dt { (t.col_error) }
                                dd {
                                    (plain)
                                    @if let Some(detail) = &a.error {
                                        br; small { (t.technical) " " (describe::without_urls(detail)) }
                                    }
                                }
                            }
                        }
                        @if let Some(response) = a.response.as_deref().filter(|r| !r.is_empty()) {
                            p { (t.col_response) }
                            pre.body { (response) }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(shell(
        session.chrome(),
        t.delivery_title,
        notice,
        body,
    )))
}

/// Sends one delivery again.
pub async fn retry(
    State(state): State<AppState>,
    Path((id, delivery)): Path<(String, String)>,
    Posted { session, .. }: Posted,
) -> Result<Response, Failure> {
    let row = delivery_of(&state, &session, &id, &delivery).await?;
    retry_delivery(&state, &session.tenant, &row.id)
        .await
        .map_err(|e| session.fail(e))?;
    Ok(Redirect::to(&format!(
        "/console/integrations/{id}/deliveries/{}?done=retried",
        row.id
    ))
    .into_response())
}
