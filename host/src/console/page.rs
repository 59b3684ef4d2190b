//! The page shell every console page shares, failures shown as pages, and the headers every
//! console answer carries.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::lang::{LANG_COOKIE, Lang, chosen};
use super::session::Session;

/// No inline script or style, nothing from elsewhere, forms only to the console itself, never
/// in a frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Adds the security headers to every console answer, keeps pages out of caches (they show a
/// tenant's data), and remembers a language chosen with `?lang=`.
pub async fn headers(request: Request, next: Next) -> Response {
    let chosen = chosen(request.uri());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A login link's token is in the URL: no page may pass it on as a referrer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(lang) = chosen {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/console; Max-Age=31536000; SameSite=Lax",
            lang.code()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// What a page is shown in: its language, and the session when signed in.
#[derive(Clone, Copy)]
pub struct Chrome<'a> {
    /// The page's language.
    pub lang: Lang,
    /// The path of the page, for the language switch.
    pub path: &'a str,
    /// The session's CSRF token when signed in (then the navigation and "Log out" show).
    pub csrf: Option<&'a str>,
    /// The clinic signed in for, named on every page.
    pub clinic: Option<&'a str>,
}

impl Session {
    /// The chrome of this session's pages.
    pub fn chrome(&self) -> Chrome<'_> {
        Chrome {
            lang: self.lang,
            path: &self.path,
            csrf: Some(&self.csrf),
            clinic: Some(&self.tenant_name),
        }
    }
}

/// A whole page: the shell around `body`, titled `title`, with an optional `notice` (the result
/// of the action that led here).
pub fn shell(chrome: Chrome<'_>, title: &str, notice: Option<&str>, body: Markup) -> Markup {
    let t = chrome.lang.texts();
    let other = chrome.lang.other();
    html! {
        (DOCTYPE)
        html lang=(t.code) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · krog" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header.top {
                    nav aria-label=(t.main_menu) {
                        a.brand href="/console/" { "krog" }
                        @if chrome.csrf.is_some() {
                            a href="/console/" { (t.nav_integrations) }
                            a href="/console/new" { (t.nav_add) }
                        }
                        a lang=(other.code()) hreflang=(other.code())
                            href={ (chrome.path) "?lang=" (other.code()) } { (other.texts().code.to_uppercase()) " · " (t.other_language) }
                        @if let Some(clinic) = chrome.clinic {
                            span.clinic { (t.signed_in_as) " " strong { (clinic) } }
                        }
                        @if let Some(csrf) = chrome.csrf {
                            form.inline method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button.link type="submit" { (t.logout) }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    @if let Some(notice) = notice {
                        p.notice role="status" { (notice) }
                    }
                    (body)
                }
            }
        }
    }
}

/// Why a console request could not be served.
#[derive(Debug)]
pub enum Problem {
    /// Nothing with that id for this tenant (another tenant's ids too).
    NotFound,
    /// No session, or it ended.
    LoggedOut,
    /// A login link used before, expired or unknown.
    LinkRefused,
    /// A form without this session's CSRF token.
    Csrf,
    /// A form over the size limit.
    TooLarge,
    /// krog refused the action; the message says why and what to do.
    Refused(String),
    /// krog itself failed (logged, not shown).
    Internal,
}

impl From<crate::api::error::Error> for Problem {
    fn from(error: crate::api::error::Error) -> Problem {
        use crate::api::error::Error;
        match error {
            Error::NotFound(_) | Error::Unauthorized | Error::Forbidden => Problem::NotFound,
            Error::Database(e) => e.into(),
            Error::Internal(e) => {
                tracing::error!(error = %e, "console request failed");
                Problem::Internal
            }
            other => Problem::Refused(other.to_string()),
        }
    }
}

impl From<crate::store::Error> for Problem {
    fn from(error: crate::store::Error) -> Problem {
        tracing::error!(error = %error, "console request failed in the database");
        Problem::Internal
    }
}

/// A [`Problem`] to show as a page in `lang`.
#[derive(Debug)]
pub struct Failure {
    lang: Lang,
    problem: Problem,
}

impl Failure {
    /// `problem`, to be shown in `lang`.
    pub fn new(lang: Lang, problem: Problem) -> Failure {
        Failure { lang, problem }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let t = self.lang.texts();
        let (status, title, body): (StatusCode, &str, Markup) = match &self.problem {
            Problem::NotFound => (
                StatusCode::NOT_FOUND,
                t.not_found_title,
                html! { p { (t.not_found_body) } p { a href="/console/" { (t.back_home) } } },
            ),
            Problem::LoggedOut => (
                StatusCode::UNAUTHORIZED,
                t.logged_out_title,
                html! { p { (t.logged_out_body) } },
            ),
            Problem::LinkRefused => (
                StatusCode::FORBIDDEN,
                t.link_refused_title,
                html! { p { (t.link_refused_body) } },
            ),
            Problem::Csrf => (
                StatusCode::FORBIDDEN,
                t.csrf_title,
                html! { p { (t.csrf_body) } p { a href="/console/" { (t.back_home) } } },
            ),
            Problem::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                t.refused_title,
                html! { p { (t.too_large) } },
            ),
            Problem::Refused(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                t.refused_title,
                html! {
                    p.error role="alert" { (t.refused_by_krog) " " (message) }
                    p { a href="/console/" { (t.back_home) } }
                },
            ),
            Problem::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                t.error_title,
                html! { p { (t.error_body) } },
            ),
        };
        let chrome = Chrome {
            lang: self.lang,
            path: "/console/",
            csrf: None,
            clinic: None,
        };
        (status, Html(shell(chrome, title, None, body).into_string())).into_response()
    }
}

/// An HTML answer.
pub fn respond(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// The first value of `key` in the query of `uri`. Pages read their query this way rather than
/// through a typed extractor, so that an odd query (a repeated key, a word where a number was
/// expected) is ignored instead of answered with an error.
pub fn query_value(uri: &axum::http::Uri, key: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}
