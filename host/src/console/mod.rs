//! The console: web pages under `/console/` on the API's port, for clinic staff who do not
//! program. They connect Slack, Google Sheets, a webhook or a custom module, preview what a
//! booking becomes, and see whether deliveries arrive. Pages are rendered on the server and
//! every action is a plain form, so all of it works without JavaScript; `assets/console.js`
//! only adds copy buttons.
//!
//! What lives where:
//! - [`session`]: login links become sessions (a cookie; only hashes stored), the CSRF token of
//!   a session, and the extractors [`session::Session`] and [`session::Posted`] every page and
//!   form goes through.
//! - [`lang`]: Danish (the default) and English; every text in both.
//! - [`page`]: the page shell, errors as pages, and the security headers (CSP without inline
//!   script, no caching, no referrer).
//! - [`home`], [`add`], [`integration`]: the pages.
//! - [`settings`]: a module's settings form drawn from its config JSON Schema, and the config
//!   read back from the form.
//! - [`preview`]: a dry run's outcome made readable (a Slack message, a spreadsheet row).
//!
//! The pages call the API's operations ([`crate::api::subscriptions`] and friends), so a
//! subscription saved here passes exactly the checks of one saved through the API.

pub mod add;
pub mod describe;
pub mod home;
pub mod integration;
pub mod lang;
pub mod page;
pub mod preview;
pub mod session;
pub mod settings;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::AppState;

/// The largest form the console takes: a settings form is a few KiB.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(home::show))
        .route("/console/login", get(session::login).post(session::switch))
        .route(
            "/console/logout",
            get(|| async { Redirect::to("/console/") }).post(session::logout),
        )
        .route("/console/assets/{file}", get(asset))
        .route("/console/new", get(add::tiles))
        .route(
            "/console/new/{kind}",
            get(add::new_form).post(add::new_submit),
        )
        .route("/console/integrations/{id}", get(integration::show))
        .route(
            "/console/integrations/{id}/edit",
            get(add::edit_form).post(add::edit_submit),
        )
        .route("/console/integrations/{id}/pause", post(integration::pause))
        .route(
            "/console/integrations/{id}/resume",
            post(integration::resume),
        )
        .route(
            "/console/integrations/{id}/enable",
            post(integration::enable),
        )
        .route(
            "/console/integrations/{id}/test",
            post(integration::send_test),
        )
        .route(
            "/console/integrations/{id}/rotate",
            post(integration::rotate),
        )
        .route(
            "/console/integrations/{id}/delete",
            get(integration::confirm_delete).post(integration::delete),
        )
        .route(
            "/console/integrations/{id}/retry-failed",
            post(integration::retry_failed),
        )
        .route(
            "/console/integrations/{id}/deliveries/{delivery}",
            get(integration::delivery),
        )
        .route(
            "/console/integrations/{id}/deliveries/{delivery}/retry",
            post(integration::retry),
        )
        .route("/console/{*rest}", get(not_found).post(not_found))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(page::headers))
}

/// A page for any other path under `/console/`.
async fn not_found(lang: lang::Lang) -> page::Failure {
    page::Failure::new(lang, page::Problem::NotFound)
}

/// The console's own files, compiled in (no CDN, nothing fetched elsewhere).
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "console.css" => (
            include_str!("assets/console.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_str!("assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "apps-script.js" => (
            include_str!("assets/apps-script.js"),
            "text/plain; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
