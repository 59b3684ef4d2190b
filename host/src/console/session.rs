//! Entry and sessions. A login link (`POST /v1/tenants/{t}/console-links`) is used once at
//! `GET /console/login?token=…`: the link is marked used and a session opens, in one
//! transaction, and its token goes to the browser in an HttpOnly, SameSite=Lax cookie scoped
//! to `/console` (Secure when `KROG_PUBLIC_URL` is https). The database holds only SHA-256
//! hashes of link and session tokens, so every node of a cluster serves every session and a
//! copy of the database opens nothing.
//!
//! Every form carries the session's CSRF token, derived from the session token (which only
//! the browser's cookie holds) so nothing more is stored; [`Posted`] refuses a form without it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::html;
use sha2::{Digest, Sha256};

use super::lang::Lang;
use super::page::{Chrome, Failure, Problem, query_value, respond, shell};
use crate::api::auth::{generate_key, hash_key};
use crate::state::AppState;
use crate::store::{self, now_ms};

/// The session cookie.
pub const SESSION_COOKIE: &str = "krog_session";

/// A signed-in request: its tenant, the CSRF token its forms carry, its language.
#[derive(Clone, Debug)]
pub struct Session {
    /// The tenant this session may see; every page reads this tenant's data only.
    pub tenant: String,
    /// The tenant's name, shown on every page so that nobody works in the wrong clinic.
    pub tenant_name: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// The page's language.
    pub lang: Lang,
    /// The path asked for, for the language switch.
    pub path: String,
    /// The hash of the session's token, to end it.
    token_hash: String,
}

impl Session {
    /// A failure of this request, shown as a page in its language.
    pub fn fail(&self, problem: impl Into<Problem>) -> Failure {
        Failure::new(self.lang, problem.into())
    }
}

/// The CSRF token of the session whose token is `session_token`.
fn csrf_for(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"krog console csrf\0");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let lang = Lang::of(parts);
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar
            .get(SESSION_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or(Failure::new(lang, Problem::LoggedOut))?;
        let token_hash = hash_key(&token);
        let found = store::console::session(&state.db, &token_hash, now_ms())
            .await
            .map_err(|e| Failure::new(lang, e.into()))?
            .ok_or(Failure::new(lang, Problem::LoggedOut))?;
        Ok(Session {
            tenant: found.tenant,
            tenant_name: found.tenant_name,
            csrf: csrf_for(&token),
            lang,
            path: parts.uri.path().to_owned(),
            token_hash,
        })
    }
}

/// A posted form of a signed-in session, its CSRF token checked.
pub struct Posted {
    /// The session.
    pub session: Session,
    /// The form's fields.
    pub form: Form,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Failure> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| session.fail(Problem::TooLarge))?;
        let form = Form::parse(&body);
        let sent = form.get("csrf").unwrap_or("");
        // Compared in constant time: the token must not leak through timing.
        let same = sent.len() == session.csrf.len()
            && sent
                .bytes()
                .zip(session.csrf.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return Err(session.fail(Problem::Csrf));
        }
        Ok(Posted { session, form })
    }
}

/// A form's fields in the order sent; a name may repeat (checkboxes).
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Reads `application/x-www-form-urlencoded`.
    pub fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `name` was sent at all.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Opens a login link. Someone already signed in for another clinic in this browser is asked
/// first (a link to another clinic could be sent to trick them into working in it); otherwise
/// the link is used at once: a session for its tenant, then home. A used, expired or unknown
/// link is refused with a page saying how to get a new one.
pub async fn login(
    State(state): State<AppState>,
    lang: Lang,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    let token = query_value(&uri, "token").unwrap_or_default();
    if token.is_empty() || token.len() > 200 {
        return Err(Failure::new(lang, Problem::LinkRefused));
    }
    let fail = |e: store::Error| Failure::new(lang, e.into());
    let now = now_ms();
    let current = match CookieJar::from_headers(&headers).get(SESSION_COOKIE) {
        Some(cookie) => store::console::session(&state.db, &hash_key(cookie.value()), now)
            .await
            .map_err(fail)?
            .map(|s| (s, csrf_for(cookie.value()))),
        None => None,
    };
    let linked = store::console::peek_link(&state.db, &hash_key(&token), now)
        .await
        .map_err(fail)?
        .ok_or(Failure::new(lang, Problem::LinkRefused))?;
    if let Some((session, csrf)) = current
        && session.tenant != linked.tenant
    {
        let t = lang.texts();
        let chrome = Chrome {
            lang,
            path: "/console/",
            csrf: Some(&csrf),
            clinic: Some(&session.tenant_name),
        };
        let body = html! {
            p { ((t.switch_body)(&session.tenant_name, &linked.tenant_name)) }
            div.actions {
                form.inline method="post" action="/console/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    input type="hidden" name="token" value=(token);
                    button.primary type="submit" { (t.switch_confirm) }
                }
                a.button href="/console/" { (t.switch_stay) }
            }
        };
        return Ok(respond(shell(chrome, t.switch_title, None, body)));
    }
    open_session(&state, lang, &token).await
}

/// Switches to another clinic after the question [`login`] asked (the form carries the current
/// session's CSRF token, so no other site can post it).
pub async fn switch(State(state): State<AppState>, posted: Posted) -> Result<Response, Failure> {
    let token = posted.form.get("token").unwrap_or("").to_owned();
    open_session(&state, posted.session.lang, &token).await
}

/// Uses the login link `token` once and answers with the new session's cookie and home.
async fn open_session(state: &AppState, lang: Lang, token: &str) -> Result<Response, Failure> {
    let session_token = generate_key();
    let now = now_ms();
    let lifetime = state.config.console_session;
    let tenant = if token.is_empty() || token.len() > 200 {
        None
    } else {
        store::console::use_link(
            &state.db,
            &hash_key(token),
            &hash_key(&session_token),
            now,
            now + lifetime.as_millis() as i64,
        )
        .await
        .map_err(|e| Failure::new(lang, e.into()))?
    };
    if tenant.is_none() {
        return Err(Failure::new(lang, Problem::LinkRefused));
    }
    let cookie = Cookie::build((SESSION_COOKIE, session_token))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.public_url.starts_with("https://"))
        .max_age(cookie::time::Duration::seconds(lifetime.as_secs() as i64));
    Ok((CookieJar::new().add(cookie), Redirect::to("/console/")).into_response())
}

/// Ends the session and forgets its cookie.
pub async fn logout(State(state): State<AppState>, posted: Posted) -> Result<Response, Failure> {
    let session = posted.session;
    store::console::end_session(&state.db, &session.token_hash)
        .await
        .map_err(|e| session.fail(e))?;
    let gone = Cookie::build((SESSION_COOKIE, ""))
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::ZERO);
    Ok((CookieJar::new().add(gone), Redirect::to("/console/")).into_response())
}
