//! Adding and editing an integration: the tiles (Slack, Google Sheets, Webhook, Custom), then
//! one form — the URL with help for that tile, the events in plain words, the module's settings
//! drawn from its schema ([`super::settings`]), a preview for a sample booking
//! ([`super::preview`]) — saved through the API's own operation, and the signing secret shown
//! once.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::describe::{self, event_types, is_operational};
use super::page::{Failure, Problem, query_value, respond, shell};
use super::preview;
use super::session::{Form, Posted, Session};
use super::settings::{self, Field, Problems};
use crate::api::modules::{find_version, run_module};
use crate::api::subscriptions::{
    Changes, NewSubscription, Subscription, change_subscription, create_subscription, fetch,
    sample_event,
};
use crate::model::{EventType, ModuleRef, Transform};
use crate::state::AppState;
use crate::store;

/// The script a spreadsheet receives rows with (Google Apps Script), as the `sheets`
/// module's README gives it.
const APPS_SCRIPT: &str = include_str!("assets/apps-script.js");

/// The tile an integration starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tile {
    Slack,
    Sheets,
    Webhook,
    Custom,
}

impl Tile {
    fn parse(kind: &str) -> Option<Tile> {
        match kind {
            "slack" => Some(Tile::Slack),
            "sheets" => Some(Tile::Sheets),
            "webhook" => Some(Tile::Webhook),
            "custom" => Some(Tile::Custom),
            _ => None,
        }
    }

    /// The tile of an existing subscription.
    fn of(subscription: &Subscription) -> Tile {
        match subscription.transform.as_ref().map(|t| t.module.as_str()) {
            None => Tile::Webhook,
            Some("slack") => Tile::Slack,
            Some("sheets") => Tile::Sheets,
            Some(_) => Tile::Custom,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Tile::Slack => "slack",
            Tile::Sheets => "sheets",
            Tile::Webhook => "webhook",
            Tile::Custom => "custom",
        }
    }

    /// The module a tile stands for, when it is fixed.
    fn module(self) -> Option<&'static str> {
        match self {
            Tile::Slack => Some("slack"),
            Tile::Sheets => Some("sheets"),
            Tile::Webhook | Tile::Custom => None,
        }
    }
}

/// The tiles.
pub async fn tiles(State(state): State<AppState>, session: Session) -> Result<Response, Failure> {
    let t = session.lang.texts();
    let tenant_modules = store::modules::latest_versions(&state.db, &session.tenant)
        .await
        .map_err(|e| session.fail(e))?;
    let catalog = store::modules::latest_versions(&state.db, "")
        .await
        .map_err(|e| session.fail(e))?;
    let body = html! {
        p.lead { (t.add_intro) }
        ul.tiles {
            li { a.tile href="/console/new/slack" { strong { "Slack" } span { (t.tile_slack) } } }
            li { a.tile href="/console/new/sheets" { strong { "Google Sheets" } span { (t.tile_sheets) } } }
            li { a.tile href="/console/new/webhook" { strong { (t.kind_webhook) } span { (t.tile_webhook) } } }
        }
        h2 { (t.tile_custom_name) }
        p { (t.tile_custom) }
        h3 { (t.your_modules) }
        @if tenant_modules.is_empty() {
            p { (t.no_modules) }
        } @else {
            ul.modules {
                @for m in &tenant_modules {
                    li { a href={ "/console/new/custom?module=tenant:" (m.name) } { (m.name) } }
                }
            }
        }
        h3 { (t.catalog_modules) }
        ul.modules {
            @for m in catalog.iter().filter(|m| m.name != "slack" && m.name != "sheets") {
                @let info = serde_json::from_str::<Value>(&m.info).unwrap_or_default();
                li {
                    a href={ "/console/new/custom?module=" (m.name) } { (describe::module_label(&m.name)) }
                    @if let Some(about) = info.get("description").and_then(Value::as_str) {
                        " — " span.help { (about) }
                    }
                }
            }
        }
    };
    Ok(respond(shell(session.chrome(), t.add_title, None, body)))
}

/// A new one-time token for a form that must not run twice ([`first_time`]).
pub fn once() -> String {
    crate::api::auth::generate_key()
}

/// Whether the posted form's one-time token is new (and marks it used): a reload of the answer
/// to a form that saved an integration or made a secret sends it again, and must not repeat it.
pub async fn first_time(state: &AppState, session: &Session, form: &Form) -> Result<bool, Failure> {
    let token = form.get("once").unwrap_or("");
    if token.is_empty() || token.len() > 100 {
        return Err(session.fail(Problem::Csrf));
    }
    store::console::use_once(&state.db, token, store::now_ms())
        .await
        .map_err(|e| session.fail(e))
}

/// What a form shows: the values so far and the problems with them.
#[derive(Default)]
struct Draft {
    module: Option<String>,
    description: String,
    url: String,
    events: Vec<String>,
    config: Map<String, Value>,
    problems: Problems,
    url_problem: Option<String>,
    events_problem: bool,
    general: Vec<String>,
}

impl Draft {
    fn has_problems(&self) -> bool {
        !self.problems.is_empty()
            || self.url_problem.is_some()
            || self.events_problem
            || !self.general.is_empty()
    }
}

/// The module a form is for (its version when pinned), with its settings fields and schema.
struct Module {
    name: String,
    reference: ModuleRef,
    schema: Option<Value>,
    fields: Vec<Field>,
}

async fn load_module(
    state: &AppState,
    session: &Session,
    name: &str,
    version: Option<i64>,
) -> Result<Module, Failure> {
    let reference = ModuleRef::parse(name, &session.tenant, version)
        .map_err(|e| session.fail(Problem::from(crate::api::error::Error::from(e))))?;
    let found = find_version(&state.db, &reference)
        .await
        .map_err(|e| session.fail(e))?;
    let schema = found.info.get("config_schema").cloned();
    Ok(Module {
        name: name.to_owned(),
        reference,
        fields: settings::fields(schema.as_ref()),
        schema,
    })
}

/// The form for a new integration from a tile.
pub async fn new_form(
    State(state): State<AppState>,
    session: Session,
    Path(kind): Path<String>,
    uri: Uri,
) -> Result<Response, Failure> {
    let tile = Tile::parse(&kind).ok_or(session.fail(Problem::NotFound))?;
    let module_name = match (tile.module(), tile, query_value(&uri, "module")) {
        (Some(fixed), _, _) => Some(fixed.to_owned()),
        (None, Tile::Custom, Some(chosen)) => Some(chosen),
        (None, Tile::Custom, None) => return Ok(Redirect::to("/console/new").into_response()),
        (None, _, _) => None,
    };
    let module = match &module_name {
        Some(name) => Some(load_module(&state, &session, name, None).await?),
        None => None,
    };
    let mut config = settings::initial(module.as_ref().and_then(|m| m.schema.as_ref()), None);
    // A Slack message in the console's language unless chosen otherwise.
    if tile == Tile::Slack {
        config.insert("locale".into(), Value::String(session.lang.code().into()));
    }
    let draft = Draft {
        module: module_name,
        events: EventType::ALL.iter().map(|e| (*e).to_owned()).collect(),
        config,
        ..Draft::default()
    };
    Ok(respond(form_page(
        &session,
        tile,
        None,
        module.as_ref(),
        &draft,
        None,
    )))
}

/// Preview or save a new integration.
pub async fn new_submit(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    posted: Posted,
) -> Result<Response, Failure> {
    let Posted { session, form } = posted;
    let tile = Tile::parse(&kind).ok_or(session.fail(Problem::NotFound))?;
    let module_name = match tile.module() {
        Some(fixed) => Some(fixed.to_owned()),
        None if tile == Tile::Custom => Some(
            form.get("module")
                .filter(|m| !m.is_empty())
                .ok_or(session.fail(Problem::NotFound))?
                .to_owned(),
        ),
        None => None,
    };
    let module = match &module_name {
        Some(name) => Some(load_module(&state, &session, name, None).await?),
        None => None,
    };
    let mut draft = read_draft(&state, &session, &form, module_name, module.as_ref(), None).await;
    if form.get("action") == Some("save") && !draft.has_problems() {
        if !first_time(&state, &session, &form).await? {
            // The answer to this very form was reloaded: it was saved already.
            return Ok(Redirect::to("/console/").into_response());
        }
        let new = NewSubscription {
            url: draft.url.clone(),
            event_types: draft.events.clone(),
            transform: module.as_ref().map(|m| Transform {
                module: m.name.clone(),
                version: None,
                config: Some(Value::Object(draft.config.clone())),
            }),
            enabled: true,
            description: draft.description.clone(),
        };
        match create_subscription(&state, &session.tenant, new).await {
            Ok(created) => return Ok(respond(secret_page(&session, &created, true))),
            Err(e) => match Problem::from(e) {
                Problem::Refused(message) => draft.general.push(message),
                other => return Err(session.fail(other)),
            },
        }
    }
    answer_form(&state, &session, &form, tile, None, module.as_ref(), &draft).await
}

/// The form for changing an integration, filled in.
pub async fn edit_form(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let subscription = fetch(&state.db, &session.tenant, &id)
        .await
        .map_err(|e| session.fail(e))?;
    let tile = Tile::of(&subscription);
    let module_name = subscription.transform.as_ref().map(|t| t.module.clone());
    let module = match &subscription.transform {
        Some(t) => Some(load_module(&state, &session, &t.module, t.version).await?),
        None => None,
    };
    let config = settings::initial(
        module.as_ref().and_then(|m| m.schema.as_ref()),
        subscription
            .transform
            .as_ref()
            .and_then(|t| t.config.as_ref()),
    );
    let draft = Draft {
        module: module_name,
        description: subscription.description.clone(),
        url: subscription.url.clone(),
        events: subscription.event_types.clone(),
        config,
        ..Draft::default()
    };
    Ok(respond(form_page(
        &session,
        tile,
        Some(&subscription),
        module.as_ref(),
        &draft,
        None,
    )))
}

/// Preview or save changes to an integration.
pub async fn edit_submit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, Failure> {
    let Posted { session, form } = posted;
    let subscription = fetch(&state.db, &session.tenant, &id)
        .await
        .map_err(|e| session.fail(e))?;
    let tile = Tile::of(&subscription);
    let module_name = subscription.transform.as_ref().map(|t| t.module.clone());
    let module = match &subscription.transform {
        Some(t) => Some(load_module(&state, &session, &t.module, t.version).await?),
        None => None,
    };
    // Settings the form does not draw (keys of a module without a schema, or beyond it) stay.
    let kept = subscription
        .transform
        .as_ref()
        .and_then(|t| t.config.as_ref())
        .and_then(Value::as_object);
    let mut draft = read_draft(&state, &session, &form, module_name, module.as_ref(), kept).await;
    if form.get("action") == Some("save") && !draft.has_problems() {
        let changes = Changes {
            url: Some(draft.url.clone()),
            event_types: Some(draft.events.clone()),
            transform: Some(subscription.transform.as_ref().map(|t| Transform {
                module: t.module.clone(),
                version: t.version,
                config: match &t.config {
                    // A config that is not an object (a module whose schema takes a list, say)
                    // has no fields here: it stays as it is.
                    Some(other) if !other.is_object() => Some(other.clone()),
                    _ => Some(Value::Object(draft.config.clone())),
                },
            })),
            enabled: None,
            description: Some(draft.description.clone()),
        };
        match change_subscription(&state, &session.tenant, &id, changes).await {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("/console/integrations/{id}?done=saved")).into_response(),
                );
            }
            Err(e) => match Problem::from(e) {
                Problem::Refused(message) => draft.general.push(message),
                other => return Err(session.fail(other)),
            },
        }
    }
    answer_form(
        &state,
        &session,
        &form,
        tile,
        Some(&subscription),
        module.as_ref(),
        &draft,
    )
    .await
}

/// The form shown again after a post that did not save: with the preview when one was asked
/// for and nothing is wrong, `422` when something is.
async fn answer_form(
    state: &AppState,
    session: &Session,
    form: &Form,
    tile: Tile,
    existing: Option<&Subscription>,
    module: Option<&Module>,
    draft: &Draft,
) -> Result<Response, Failure> {
    let preview = if form.get("action") == Some("preview") && !draft.has_problems() {
        Some(run_preview(state, session, module, draft).await?)
    } else {
        None
    };
    let status = if draft.has_problems() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = form_page(session, tile, existing, module, draft, preview);
    Ok((status, axum::response::Html(page.into_string())).into_response())
}

/// Reads a posted form into a draft, with the problems of each field: the URL by the same
/// check the API applies, the events, the settings by the module's schema.
async fn read_draft(
    state: &AppState,
    session: &Session,
    form: &Form,
    module_name: Option<String>,
    module: Option<&Module>,
    kept: Option<&Map<String, Value>>,
) -> Draft {
    let t = session.lang.texts();
    let url = form.get("url").unwrap_or("").trim().to_owned();
    let url_problem = if url.is_empty() {
        Some(t.required.to_owned())
    } else {
        crate::destinations::check_url(&url, &state.config)
            .err()
            .map(|e| format!("{} {e}", t.url_refused))
    };
    let chosen = form.all("events");
    let events: Vec<String> = event_types()
        .filter(|e| chosen.contains(e))
        .map(str::to_owned)
        .collect();
    let (read, mut problems) = match module {
        Some(m) => settings::read(&m.fields, form, t),
        None => (Map::new(), Problems::new()),
    };
    // The fields drawn are set (or left out, so the module's default applies); other keys of an
    // existing config stay.
    let mut config = kept.cloned().unwrap_or_default();
    for field in module.map(|m| m.fields.as_slice()).unwrap_or_default() {
        match read.get(&field.name) {
            Some(value) => config.insert(field.name.clone(), value.clone()),
            None => config.remove(&field.name),
        };
    }
    if problems.is_empty()
        && let Some(m) = module
    {
        settings::check(
            m.schema.as_ref(),
            &Value::Object(config.clone()),
            &mut problems,
        )
        .await;
    }
    // A problem with a key the form does not draw is said above the form.
    let drawn: Vec<&str> = module
        .map(|m| m.fields.iter().map(|f| f.name.as_str()).collect())
        .unwrap_or_default();
    let mut general = Vec::new();
    problems.retain(|key, texts| {
        if drawn.contains(&key.as_str()) {
            true
        } else {
            general.extend(texts.iter().map(|text| {
                if key.is_empty() {
                    text.clone()
                } else {
                    format!("{key}: {text}")
                }
            }));
            false
        }
    });
    Draft {
        module: module_name,
        description: form.get("description").unwrap_or("").trim().to_owned(),
        url,
        events_problem: events.is_empty(),
        events,
        config,
        problems,
        url_problem,
        general,
    }
}

/// The outcome for a sample booking of the first booking event chosen: the module's dry run,
/// or the event itself for a webhook.
async fn run_preview(
    state: &AppState,
    session: &Session,
    module: Option<&Module>,
    draft: &Draft,
) -> Result<Markup, Failure> {
    let t = session.lang.texts();
    let event_type = draft
        .events
        .iter()
        .find_map(|e| EventType::parse(e))
        .unwrap_or(EventType::Created);
    let event = sample_event(event_type);
    let config = Value::Object(draft.config.clone());
    let outcome = match module {
        Some(m) => {
            match run_module(
                state,
                &session.tenant,
                Some(&session.tenant),
                &m.reference,
                event,
                Some(config.clone()),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(e) => match Problem::from(e) {
                    Problem::Refused(message) => {
                        serde_json::json!({"outcome": "error", "error": {"message": message}})
                    }
                    other => return Err(session.fail(other)),
                },
            }
        }
        None => serde_json::json!({
            "outcome": "deliver",
            "body": String::from_utf8_lossy(&event.envelope()),
        }),
    };
    Ok(preview::render(
        t,
        module.map(|m| m.name.as_str()),
        &config,
        &outcome,
    ))
}

/// The add or edit form.
fn form_page(
    session: &Session,
    tile: Tile,
    existing: Option<&Subscription>,
    module: Option<&Module>,
    draft: &Draft,
    preview: Option<Markup>,
) -> Markup {
    let t = session.lang.texts();
    let kind = match (tile, module) {
        (Tile::Webhook, _) => t.kind_webhook.to_owned(),
        (_, Some(m)) => describe::module_label(&m.name),
        _ => String::new(),
    };
    let (title, action) = match existing {
        Some(s) => (
            (t.edit_title)(&describe::name(t, s)),
            format!("/console/integrations/{}/edit", s.id),
        ),
        None => (
            (t.new_title)(&kind),
            format!("/console/new/{}", tile.path()),
        ),
    };
    let cancel = match existing {
        Some(s) => format!("/console/integrations/{}", s.id),
        None => "/console/new".to_owned(),
    };
    let url_help = match tile {
        Tile::Slack => t.help_slack,
        Tile::Sheets => t.help_sheets_intro,
        Tile::Webhook => t.help_webhook,
        Tile::Custom => t.help_custom,
    };
    let body = html! {
        form.integration method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(session.csrf);
            input type="hidden" name="once" value=(once());
            @if tile == Tile::Custom && existing.is_none() {
                input type="hidden" name="module" value=(draft.module.as_deref().unwrap_or(""));
            }
            @if draft.has_problems() {
                div.error-summary role="alert" {
                    p { (t.fix_errors) }
                    ul {
                        @if draft.url_problem.is_some() {
                            li { a href="#url" { (t.field_url) } }
                        }
                        @if draft.events_problem {
                            li { a href="#events" { (t.field_events) } }
                        }
                        @for field in module.map(|m| m.fields.as_slice()).unwrap_or_default() {
                            @if draft.problems.contains_key(&field.name) {
                                li { a href={ "#" (settings::field_id(field)) } { (field.label) } }
                            }
                        }
                    }
                    @for message in &draft.general {
                        p.error { (t.refused_by_krog) " " (message) }
                    }
                }
            }
            div.field {
                label for="description" { (t.field_name) }
                input #description type="text" name="description" value=(draft.description)
                    maxlength="1000" aria-describedby="description-help";
                p.help #description-help { (t.field_name_help) }
            }
            div.field.invalid[draft.url_problem.is_some()] {
                label for="url" { (t.field_url) }
                input #url type="url" name="url" value=(draft.url) inputmode="url"
                    autocomplete="off" spellcheck="false" required
                    aria-invalid=[draft.url_problem.as_ref().map(|_| "true")]
                    aria-describedby={ "url-help" @if draft.url_problem.is_some() { " url-error" } };
                p.help #url-help { (url_help) }
                @if let Some(problem) = &draft.url_problem {
                    p.error #url-error role="alert" { (problem) }
                }
            }
            @if tile == Tile::Sheets {
                ol.steps {
                    @for step in t.help_sheets_steps { li { (step) } }
                }
                div.copyable {
                    p #apps-script-label { (t.help_sheets_script) }
                    pre #apps-script aria-labelledby="apps-script-label" tabindex="0" { (APPS_SCRIPT) }
                    button.copy type="button" data-copy="apps-script" hidden { (t.copy) }
                }
            }
            fieldset #events .field.invalid[draft.events_problem] tabindex="-1"
                aria-describedby=[draft.events_problem.then_some("events-error")] {
                legend { (t.field_events) }
                @for event in event_types().filter(|e| !is_operational(e)) {
                    (event_box(t, event, draft))
                }
                fieldset {
                    legend { (t.operational_events) }
                    @for event in event_types().filter(|e| is_operational(e)) {
                        (event_box(t, event, draft))
                    }
                }
                @if draft.events_problem {
                    p.error #events-error role="alert" { (t.pick_event) }
                }
            }
            @if let Some(module) = module {
                fieldset.settings {
                    legend { (t.settings) }
                    @if module.fields.is_empty() {
                        p { (t.no_settings) }
                    } @else {
                        p.help { (t.settings_from_module) }
                        (settings::render(t, &module.fields, &draft.config, &draft.problems))
                    }
                }
            }
            div.actions {
                button type="submit" name="action" value="preview" { (t.preview) }
                button.primary type="submit" name="action" value="save" { (t.save) }
                a href=(cancel) { (t.cancel) }
            }
        }
        @if let Some(preview) = preview {
            (preview)
        }
    };
    shell(session.chrome(), &title, None, body)
}

fn event_box(t: &super::lang::Texts, event: &str, draft: &Draft) -> Markup {
    let id = format!("event-{}", event.replace('.', "-"));
    html! {
        label.check for=(id) {
            input type="checkbox" id=(id) name="events" value=(event)
                checked[draft.events.iter().any(|e| e == event)];
            " " (describe::event_words(t, event))
        }
    }
}

/// The page that shows a signing secret, once: after saving (`created`) or after a rotation.
pub fn secret_page(session: &Session, subscription: &Subscription, created: bool) -> Markup {
    let t = session.lang.texts();
    let title = if created {
        t.saved_title
    } else {
        t.rotated_title
    };
    let secret = subscription.secret.as_deref().unwrap_or("");
    let body = html! {
        div.copyable {
            p #secret-label { strong { (t.secret_label) } }
            pre #secret aria-labelledby="secret-label" tabindex="0" { (secret) }
            button.copy type="button" data-copy="secret" hidden { (t.copy) }
        }
        p { (t.secret_once) }
        @if !created {
            p { (t.rotate_help) }
        }
        div.actions {
            form.inline method="post" action={ "/console/integrations/" (subscription.id) "/test" } {
                input type="hidden" name="csrf" value=(session.csrf);
                button type="submit" { (t.send_test) }
            }
            a.button.primary href={ "/console/integrations/" (subscription.id) } { (t.go_to_integration) }
        }
    };
    shell(session.chrome(), title, None, body)
}
