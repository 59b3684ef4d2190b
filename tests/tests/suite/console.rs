//! The console over plain HTTP, on both engines: entry by login link (once, in time), sessions
//! bound to one tenant, CSRF on every form, the security headers, both languages, and every
//! action working without JavaScript. The flows in a real browser are in `console_browser.rs`.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::console::{Console, login_link, open_link, plugin_with_schema};
use crate::common::{ADMIN_KEY, Answer, Receiver, TestApp, fresh, verify};

/// A connection of the test's own to krog's database.
async fn database(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.db.url).await.unwrap()
}

#[tokio::test]
async fn a_login_link_opens_the_console_once_and_then_is_refused() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let link = login_link(&app, &tenant, &key).await;
    assert!(
        link.starts_with(&format!("{}/console/login?token=", app.base)),
        "{link}"
    );

    let (first, cookie) = open_link(&link).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.html);
    let cookie = cookie.expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure flag: {cookie}"
    );

    let (second, cookie) = open_link(&link).await;
    assert_eq!(second.status, StatusCode::FORBIDDEN);
    assert!(cookie.is_none());
    assert!(
        second.html.contains("Linket virker ikke længere"),
        "{}",
        second.html
    );

    let (unknown, _) = open_link(&format!("{}/console/login?token=krog_nothing", app.base)).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_expired_login_link_is_refused() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let link = login_link(&app, &tenant, &key).await;
    // Fifteen minutes pass (the link's expiry moved into the past in the database).
    let pool = database(&app).await;
    sqlx::query("UPDATE console_links SET expires_at = 1")
        .execute(&pool)
        .await
        .unwrap();
    let (page, cookie) = open_link(&link).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
    assert!(cookie.is_none());
}

#[tokio::test]
async fn links_and_sessions_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let link = login_link(&app, &tenant, &key).await;
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let (_, cookie) = open_link(&link).await;
    let session = cookie.unwrap().split(';').next().unwrap()["krog_session=".len()..].to_owned();
    let pool = database(&app).await;
    let links: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM console_links")
        .fetch_all(&pool)
        .await
        .unwrap();
    let sessions: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM console_sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!((links.len(), sessions.len()), (1, 1));
    assert_ne!(links[0].0, token);
    assert_ne!(sessions[0].0, session);
    assert!(!links[0].0.contains(&token[6..20]));
}

#[tokio::test]
async fn a_tenant_key_gets_links_for_its_own_tenant_only() {
    let app = TestApp::spawn().await;
    let (_, key_a) = app.tenant("klinik-a").await;
    let (tenant_b, _) = app.tenant("klinik-b").await;
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{tenant_b}/console-links"),
            &key_a,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{tenant_b}/console-links"),
            ADMIN_KEY,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn without_a_session_the_console_says_how_to_get_in() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/console/")).await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let html = response.text().await.unwrap();
    assert!(html.contains("Du er ikke logget ind"), "{html}");
}

#[tokio::test]
async fn a_session_sees_only_its_own_tenants_integrations() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant_a, key_a) = app.tenant("klinik-a").await;
    let (tenant_b, key_b) = app.tenant("klinik-b").await;
    let theirs = app
        .subscribe(
            &tenant_b,
            &key_b,
            json!({"url": receiver.url("/b"), "event_types": ["booking.created"],
                   "description": "B's secret Slack"}),
        )
        .await;
    let id = theirs["id"].as_str().unwrap();
    let accepted = app.ingest(&tenant_b, &key_b, fresh("created")).await;
    receiver.wait_for(1).await;
    let delivery = app
        .wait_for_deliveries(&tenant_b, &key_b, accepted["id"].as_str().unwrap(), |d| {
            d.len() == 1 && d[0]["status"] == "succeeded"
        })
        .await;
    let delivery_id = delivery[0]["id"].as_str().unwrap();

    let console = Console::login(&app, &tenant_a, &key_a).await;
    let home = console.get("/console/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(!home.html.contains("secret Slack") && !home.html.contains(id));
    for path in [
        format!("/console/integrations/{id}"),
        format!("/console/integrations/{id}/edit"),
        format!("/console/integrations/{id}/delete"),
        format!("/console/integrations/{id}/deliveries/{delivery_id}"),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.html.contains("secret Slack"), "{path}");
    }
    let csrf = console.get("/console/").await.csrf();
    for action in [
        "pause",
        "resume",
        "enable",
        "edit",
        "delete",
        "rotate",
        "test",
        "retry-failed",
        &format!("deliveries/{delivery_id}/retry"),
    ] {
        let once = format!("once-{action}");
        let page = console
            .post(
                &format!("/console/integrations/{id}/{action}"),
                &[
                    ("csrf", &csrf),
                    ("once", &once),
                    ("url", "http://127.0.0.1:9/"),
                    ("events", "booking.created"),
                    ("action", "save"),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::NOT_FOUND,
            "{action}: {}",
            page.html
        );
    }
    let (_, still) = app
        .get(
            &format!("/v1/tenants/{tenant_b}/subscriptions/{id}"),
            &key_b,
        )
        .await;
    assert_eq!(still["enabled"], true, "{still}");
    assert_eq!(still["url"], receiver.url("/b"), "{still}");
    // Deliveries are created when a test is accepted: B still has its one.
    let (_, log) = app
        .get(&format!("/v1/tenants/{tenant_b}/deliveries"), &key_b)
        .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["data"][0]["status"], "succeeded", "{log}");
    let _ = tenant_a;
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let subscription = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/"), "event_types": ["booking.created"]}),
        )
        .await;
    let id = subscription["id"].as_str().unwrap();
    let console = Console::login(&app, &tenant, &key).await;
    for fields in [vec![], vec![("csrf", "0".repeat(64))]] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = console
            .post(&format!("/console/integrations/{id}/pause"), &fields)
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
        assert!(
            page.html.contains("Formularen kunne ikke sendes"),
            "{}",
            page.html
        );
    }
    let (_, still) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions/{id}"), &key)
        .await;
    assert_eq!(still["enabled"], true, "{still}");

    // With the token, the same form pauses it.
    let page = console
        .submit(
            &format!("/console/integrations/{id}"),
            &format!("/console/integrations/{id}/pause"),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let (_, paused) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions/{id}"), &key)
        .await;
    assert_eq!(paused["enabled"], false, "{paused}");
}

#[tokio::test]
async fn every_page_carries_a_policy_without_inline_script_and_is_not_cached() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let console = Console::login(&app, &tenant, &key).await;
    for path in [
        "/console/",
        "/console/new",
        "/console/new/slack",
        "/console/nothing",
    ] {
        let page = console.get(path).await;
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(page.headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        assert!(!page.html.contains("<script>"), "{path}: inline script");
        assert!(!page.html.contains(" style="), "{path}: inline style");
        let handler = page.html.match_indices(" on").any(|(at, _)| {
            let name: String = page.html[at + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            !name.is_empty() && page.html[at + 3 + name.len()..].starts_with('=')
        });
        assert!(!handler, "{path}: an inline event handler");
    }
}

#[tokio::test]
async fn the_console_speaks_danish_unless_english_is_asked_for_and_remembers_it() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let mut console = Console::login(&app, &tenant, &key).await;
    let danish = console.get("/console/").await;
    assert!(
        danish.html.contains("<html lang=\"da\">"),
        "{}",
        danish.html
    );
    assert!(danish.html.contains("Integrationer"));

    let english = console.get("/console/?lang=en").await;
    assert!(
        english.html.contains("<html lang=\"en\">"),
        "{}",
        english.html
    );
    assert!(english.html.contains("Add an integration"));
    let remembered = english
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("krog_lang=en"));
    assert!(remembered, "the choice is kept in a cookie");
    console.lang = Some("en");
    let next = console.get("/console/new").await;
    assert!(
        next.html.contains("Choose where the bookings should go"),
        "{}",
        next.html
    );

    console.lang = None;
    let response = reqwest::Client::new()
        .get(app.url("/console/"))
        .header("cookie", &console.cookie)
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<html lang=\"en\">")
    );
}

#[tokio::test]
async fn a_webhook_integration_is_added_with_plain_forms_and_delivers_signed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let console = Console::login(&app, &tenant, &key).await;

    // A mistake is shown next to its field, and nothing is saved.
    let bad = console
        .submit(
            "/console/new/webhook",
            "/console/new/webhook",
            &[("url", "ftp://nowhere"), ("action", "save")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("id=\"url-error\""), "{}", bad.html);
    assert!(bad.html.contains("id=\"events-error\""), "{}", bad.html);

    let url = receiver.url("/hook");
    let saved = console
        .submit(
            "/console/new/webhook",
            "/console/new/webhook",
            &[
                ("description", "Vores server"),
                ("url", &url),
                ("events", "booking.created"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.html);
    let secret_at = saved.html.find("whsec_").expect("the secret is shown once");
    let secret: String = saved.html[secret_at..]
        .chars()
        .take_while(|c| !matches!(c, '<' | '"' | ' '))
        .collect();

    let (_, list) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), &key)
        .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let page = console.get(&format!("/console/integrations/{id}")).await;
    assert!(
        !page.html.contains("whsec_"),
        "the secret is never shown again"
    );

    app.ingest(&tenant, &key, fresh("created")).await;
    let got = receiver.wait_for(1).await;
    verify(&secret, &got[0]).expect("signed with the secret the console showed");
    assert_eq!(got[0].json()["type"], "booking.created");
}

#[tokio::test]
async fn a_failed_delivery_shows_its_attempts_and_is_sent_again_from_the_console() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script((0..4).map(|_| Answer::status(503)));
    let (tenant, key) = app.tenant("klinik").await;
    let subscription = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/"), "event_types": ["booking.created"]}),
        )
        .await;
    let id = subscription["id"].as_str().unwrap();
    let accepted = app.ingest(&tenant, &key, fresh("created")).await;
    let failed = app
        .wait_for_deliveries(&tenant, &key, accepted["id"].as_str().unwrap(), |d| {
            d.len() == 1 && d[0]["status"] == "failed"
        })
        .await;
    let delivery = failed[0]["id"].as_str().unwrap();

    let console = Console::login(&app, &tenant, &key).await;
    let list = console
        .get(&format!("/console/integrations/{id}?status=failed"))
        .await;
    assert!(list.html.contains(delivery), "{}", list.html);
    let page = console
        .get(&format!("/console/integrations/{id}/deliveries/{delivery}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.html.matches("class=\"attempt\"").count(),
        4,
        "{}",
        page.html
    );
    assert!(
        page.html.contains("Modtageren svarede med fejlkode 503"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("receiver says hi"),
        "the start of the answer"
    );

    let again = console
        .submit(
            &format!("/console/integrations/{id}/deliveries/{delivery}"),
            &format!("/console/integrations/{id}/deliveries/{delivery}/retry"),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
    app.wait_for_deliveries(&tenant, &key, accepted["id"].as_str().unwrap(), |d| {
        d[0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(receiver.received().len(), 5);
}

#[tokio::test]
async fn an_uploaded_modules_settings_form_is_drawn_from_its_schema_and_checked_by_it() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let schema = json!({
        "type": "object",
        "properties": {
            "channel": {"type": "string", "description": "Where the message goes.", "minLength": 3},
            "level": {"enum": ["low", "high"], "default": "low"},
            "count": {"type": "integer", "minimum": 1, "maximum": 5, "default": 2},
            "loud": {"type": "boolean"},
            "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}}
        },
        "required": ["channel"]
    });
    let (status, uploaded) = app
        .upload(
            &format!("/v1/tenants/{tenant}/modules/shape"),
            &key,
            plugin_with_schema(&schema),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let console = Console::login(&app, &tenant, &key).await;
    let form = console.get("/console/new/custom?module=tenant:shape").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    for control in [
        r#"name="cfg.channel""#,
        r#"<select id="cfg-level" name="cfg.level""#,
        r#"value="2""#,
        r#"type="checkbox" id="cfg-loud" name="cfg.loud""#,
        r#"name="cfg.tags" value="c""#,
        "Where the message goes.",
    ] {
        assert!(
            form.html.contains(control),
            "{control} missing:\n{}",
            form.html
        );
    }
    let url = receiver.url("/");
    let refused = console
        .submit(
            "/console/new/custom?module=tenant:shape",
            "/console/new/custom",
            &[
                ("module", "tenant:shape"),
                ("url", &url),
                ("events", "booking.created"),
                ("cfg.channel", "ok-channel"),
                ("cfg.level", "high"),
                ("cfg.count", "9"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    let error_at = refused
        .html
        .find("id=\"cfg-count-error\"")
        .expect("the error is at the field");
    assert!(
        refused.html[error_at..].contains('5'),
        "{}",
        &refused.html[error_at..]
    );
    assert!(
        refused.html.contains(r#"value="9""#),
        "what was typed stays"
    );

    let saved = console
        .submit(
            "/console/new/custom?module=tenant:shape",
            "/console/new/custom",
            &[
                ("module", "tenant:shape"),
                ("url", &url),
                ("events", "booking.created"),
                ("cfg.channel", "ok-channel"),
                ("cfg.level", "high"),
                ("cfg.count", "4"),
                ("cfg.tags", "a"),
                ("cfg.tags", "c"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.html);
    let (_, list) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), &key)
        .await;
    assert_eq!(
        list["data"][0]["transform"]["config"],
        json!({"channel": "ok-channel", "level": "high", "count": 4, "loud": false, "tags": ["a", "c"]})
    );
}

#[tokio::test]
async fn a_link_to_another_clinic_asks_before_switching() {
    let app = TestApp::spawn().await;
    let (tenant_a, key_a) = app.tenant("klinik-a").await;
    let (tenant_b, key_b) = app.tenant("klinik-b").await;
    let console = Console::login(&app, &tenant_a, &key_a).await;
    assert!(
        console
            .get("/console/")
            .await
            .html
            .contains("Klinik klinik-a")
    );

    // A link to clinic B opened in A's browser: a question, not a silent switch.
    let link = login_link(&app, &tenant_b, &key_b).await;
    let path = link.trim_start_matches(&app.base).to_owned();
    let question = console.get(&path).await;
    assert_eq!(question.status, StatusCode::OK, "{}", question.html);
    assert!(question.html.contains("Skift klinik?"), "{}", question.html);
    assert!(
        question.html.contains("Klinik klinik-b"),
        "{}",
        question.html
    );
    assert!(
        console
            .get("/console/")
            .await
            .html
            .contains("Klinik klinik-a")
    );

    // Without the session's CSRF token the switch is refused; with it, B's console opens.
    let token = link.split("token=").nth(1).unwrap();
    let forged = console.post("/console/login", &[("token", token)]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let switched = console
        .post(
            "/console/login",
            &[("csrf", &question.csrf()), ("token", token)],
        )
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER, "{}", switched.html);
    let cookie = switched.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("krog_session="), "{cookie}");
}

#[tokio::test]
async fn the_answer_to_a_saved_form_sent_again_saves_nothing_more() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let console = Console::login(&app, &tenant, &key).await;
    let form = console.get("/console/new/webhook").await;
    let url = receiver.url("/");
    let fields = [
        ("csrf", form.csrf()),
        ("once", form.field("once").expect("a one-time token")),
        ("url", url),
        ("events", "booking.created".to_owned()),
        ("action", "save".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = console.post("/console/new/webhook", &fields).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.html);
    let again = console.post("/console/new/webhook", &fields).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
    let (_, list) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), &key)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn editing_keeps_the_settings_the_form_does_not_draw() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let schema = json!({"type": "object", "properties": {"channel": {"type": "string"}}});
    let (status, _) = app
        .upload(
            &format!("/v1/tenants/{tenant}/modules/open"),
            &key,
            plugin_with_schema(&schema),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let subscription = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/old"), "event_types": ["booking.created"],
                   "transform": {"module": "tenant:open",
                                 "config": {"channel": "a", "extra": {"kept": true}}}}),
        )
        .await;
    let id = subscription["id"].as_str().unwrap();
    let console = Console::login(&app, &tenant, &key).await;
    let edit = format!("/console/integrations/{id}/edit");
    let new_url = receiver.url("/new");
    let saved = console
        .submit(
            &edit,
            &edit,
            &[
                ("url", &new_url),
                ("events", "booking.created"),
                ("cfg.channel", "b"),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let (_, now) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions/{id}"), &key)
        .await;
    assert_eq!(now["url"], new_url);
    assert_eq!(
        now["transform"]["config"],
        json!({"channel": "b", "extra": {"kept": true}}),
        "{now}"
    );
}
