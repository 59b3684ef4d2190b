//! The console as a browser without JavaScript sees it: a login link opened, the session
//! cookie kept, pages fetched and forms posted with their CSRF token. (The Chromium tests in
//! `console_browser.rs` drive a real browser; these check the same pages over plain HTTP on
//! both engines.)

use reqwest::StatusCode;
use serde_json::Value;

use super::TestApp;

/// A signed-in console client.
pub struct Console {
    pub base: String,
    client: reqwest::Client,
    pub cookie: String,
    pub lang: Option<&'static str>,
}

/// A page: its status, `Location` when it redirects, its HTML.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub html: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    /// The value of the first hidden field `name` on the page.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self.html.find(&marker)?;
        let rest = &self.html[at + marker.len()..];
        Some(rest[..rest.find('"').unwrap()].to_owned())
    }

    /// The CSRF token its forms carry.
    pub fn csrf(&self) -> String {
        self.field("csrf")
            .unwrap_or_else(|| panic!("no CSRF field on the page:\n{}", self.html))
    }
}

/// A new login link for `tenant`, asked for with `key`.
pub async fn login_link(app: &TestApp, tenant: &str, key: &str) -> String {
    let (status, link) = app
        .post(
            &format!("/v1/tenants/{tenant}/console-links"),
            key,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert!(link["expires_at"].is_string(), "{link}");
    link["url"].as_str().unwrap().to_owned()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens `link` without a session: the page it answers, and the session cookie it set.
pub async fn open_link(link: &str) -> (Page, Option<String>) {
    let response = client().get(link).send().await.unwrap();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("krog_session="))
        .map(str::to_owned);
    (page(response).await, cookie)
}

async fn page(response: reqwest::Response) -> Page {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let headers = response.headers().clone();
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Page {
        status,
        location,
        html: response.text().await.unwrap(),
        headers,
    }
}

impl Console {
    /// Signs in to the console of `tenant` through a fresh login link.
    pub async fn login(app: &TestApp, tenant: &str, key: &str) -> Console {
        let link = login_link(app, tenant, key).await;
        let (page, cookie) = open_link(&link).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
        assert_eq!(page.location.as_deref(), Some("/console/"));
        let cookie = cookie.expect("the login sets the session cookie");
        Console {
            base: app.base.clone(),
            client: client(),
            cookie: cookie.split(';').next().unwrap().to_owned(),
            lang: None,
        }
    }

    fn cookies(&self) -> String {
        match self.lang {
            Some(lang) => format!("{}; krog_lang={lang}", self.cookie),
            None => self.cookie.clone(),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookies())
            .send()
            .await
            .unwrap();
        page(response).await
    }

    /// Posts `fields` (form-encoded) to `path`.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter())
            .finish();
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookies())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        page(response).await
    }

    /// Posts `fields` to `path` with the CSRF token (and the one-time token, when its form has
    /// one) of the page at `from`, as a browser submits a form of that page.
    pub async fn submit(&self, from: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(from).await;
        let csrf = page.csrf();
        let once = page.field("once");
        let mut all = vec![("csrf", csrf.as_str())];
        if let Some(once) = &once {
            all.push(("once", once.as_str()));
        }
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }
}

/// A plugin component (WebAssembly text, no toolchain needed) whose config schema is `schema`
/// and which skips every event: what the console draws a settings form from.
pub fn plugin_with_schema(schema: &Value) -> Vec<u8> {
    let text = schema.to_string();
    let escaped: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    wat::parse_str(format!(
        r#"(component
  (core module $main
    (memory (export "memory") 1)
    (data (i32.const 1024) "{escaped}")
    (global $heap (mut i32) (i32.const 8192))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $at i32)
      (local.set $at (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $at) (local.get 3)))
      (local.get $at))
    (func (export "info") (result i32)
      ;; Empty name, version and description; the config schema at 1024.
      (memory.fill (i32.const 16) (i32.const 0) (i32.const 32))
      (i32.store (i32.const 40) (i32.const 1024))
      (i32.store (i32.const 44) (i32.const {len}))
      (i32.const 16))
    (func (export "transform")
      (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      ;; ok(skip("")).
      (i32.store8 (i32.const 64) (i32.const 0))
      (i32.store8 (i32.const 68) (i32.const 0))
      (i32.store (i32.const 72) (i32.const 0))
      (i32.store (i32.const 76) (i32.const 0))
      (i32.const 64)))
  (core instance $m (instantiate $main))
  (type $event' (record
    (field "id" string) (field "event-type" string) (field "timestamp" string)
    (field "tenant" string) (field "data" string)))
  (export $event "event" (type $event'))
  (type $request' (record
    (field "content-type" string)
    (field "headers" (list (tuple string string)))
    (field "body" (list u8))))
  (export $request "request" (type $request'))
  (type $outcome' (variant (case "skip" string) (case "deliver" $request)))
  (export $outcome "outcome" (type $outcome'))
  (type $info' (record
    (field "name" string) (field "version" string) (field "description" string)
    (field "config-schema" string)))
  (export $info "plugin-info" (type $info'))
  (func $info-func (result $info)
    (canon lift (core func $m "info") (memory (core memory $m "memory"))))
  (export "info" (func $info-func))
  (func $transform-func (param "event" $event) (param "config" string)
    (result (result $outcome (error string)))
    (canon lift (core func $m "transform") (memory (core memory $m "memory"))
      (realloc (core func $m "realloc"))))
  (export "transform" (func $transform-func))
)"#,
        len = text.len()
    ))
    .expect("the WAT plugin parses")
}
