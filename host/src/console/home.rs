//! Home: one card per integration — what it is, where it goes, which events, its state, the
//! last delivery and the last day's results — and the way to add one.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use maud::html;

use super::describe::{self, State as Health};
use super::page::{Failure, query_value, respond, shell};
use super::session::Session;
use crate::api::subscriptions::Subscription;
use crate::state::AppState;
use crate::store::{self, now_ms};

/// A day, for the cards' counts.
const DAY_MS: i64 = 24 * 3600 * 1000;
/// How far back a card looks for the last delivery.
const NEWEST_WITHIN_MS: i64 = 30 * DAY_MS;

/// The integrations page.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, Failure> {
    let t = session.lang.texts();
    // A tenant has at most KROG_MAX_SUBSCRIPTIONS_PER_TENANT subscriptions: one page holds them.
    let limit = state.config.max_subscriptions_per_tenant as i64 + 1;
    let subscriptions: Vec<Subscription> =
        store::subscriptions::list(&state.db, &session.tenant, "", limit)
            .await
            .map_err(|e| session.fail(e))?
            .into_iter()
            .map(Subscription::from)
            .collect();
    let now = now_ms();
    let recent = store::console::recent(
        &state.db,
        &session.tenant,
        now - DAY_MS,
        now - NEWEST_WITHIN_MS,
    )
    .await
    .map_err(|e| session.fail(e))?;
    let notice = match query_value(&uri, "done").as_deref() {
        Some("deleted") => Some(t.done_deleted),
        _ => None,
    };
    let body = html! {
        p.lead { (t.home_intro) }
        @if subscriptions.is_empty() {
            p { (t.home_empty) }
            p { a.button href="/console/new" { (t.add_first) } }
        } @else {
            p { a.button href="/console/new" { (t.nav_add) } }
            ul.cards {
                @for s in &subscriptions {
                    @let health = Health::of(s);
                    @let numbers = recent.get(&s.id).cloned().unwrap_or_default();
                    li.card {
                        h2 {
                            a href={ "/console/integrations/" (s.id) } { (describe::name(t, s)) }
                        }
                        p.kind { (describe::kind_label(t, s)) }
                        p { span class={ "state " (health.class()) } { (health.words(t)) } }
                        dl {
                            dt { (t.goes_to) }
                            dd { (describe::host(&s.url)) }
                            dt { (t.events) }
                            dd {
                                (s.event_types.iter().map(|e| describe::event_words(t, e)).collect::<Vec<_>>().join(", "))
                            }
                            dt { (t.last_delivery) }
                            dd {
                                @match &numbers.last {
                                    Some((status, at)) => {
                                        span class={ "result result-" (status) } { (describe::status_words(t, status)) }
                                        " · " (describe::time(*at))
                                    }
                                    None => { (t.none_yet) }
                                }
                            }
                        }
                        p.counts { ((t.last_24h)(numbers.succeeded, numbers.failed)) }
                    }
                }
            }
        }
    };
    Ok(respond(shell(session.chrome(), t.home_title, notice, body)))
}
