//! The console in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven
//! over WebDriver by fantoccini), against the real service and a real receiver, as a
//! receptionist uses it. The tests also write the screenshots under `docs/console/` (desktop
//! and 360 px wide, Danish) that the README shows, so those stay current.
//!
//! Without Chromium the tests say so and pass, unless `KROG_BROWSER_TESTS=1` (as `.ci/run`
//! sets after installing it) makes a missing browser a failure.

#[allow(dead_code)]
mod common;

/// The database engine of these tests.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use common::console::{login_link, plugin_with_schema};
use common::{Answer, Receiver, TestApp, fresh, verify};

/// A headless Chromium and the chromedriver that drives it.
struct Browser {
    client: Client,
    _driver: Child,
}

fn program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// Starts chromedriver and a Chromium session in Danish; `None` (the test passes, saying why)
/// when they are not installed and `KROG_BROWSER_TESTS` is not `1`.
async fn browser() -> Option<Browser> {
    let (Some(chromium), Some(driver)) = (program("chromium"), program("chromedriver")) else {
        if std::env::var("KROG_BROWSER_TESTS").as_deref() == Ok("1") {
            panic!(
                "KROG_BROWSER_TESTS=1 but chromium or chromedriver is missing: apt-get install chromium chromium-driver"
            );
        }
        eprintln!(
            "skipped: chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--lang=da-DK", "--hide-scrollbars",
                     "--force-device-scale-factor=1"],
            "prefs": {"intl.accept_languages": "da-DK,da"}
        }),
    );
    // Wide: chromedriver and Chromium start slowly on a busy machine.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let client = loop {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(e) if tokio::time::Instant::now() > deadline => {
                panic!("chromedriver did not start a session: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    Some(Browser {
        client,
        _driver: child,
    })
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The element `css` names, waiting for it to appear: after a click that submits a form,
    /// the next page may not have loaded yet on a busy machine.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    async fn html(&self) -> String {
        self.client.source().await.unwrap()
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    async fn click_link(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("link {text:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn choose(&self, select: &str, value: &str) {
        self.client
            .find(Locator::Css(select))
            .await
            .unwrap()
            .select_by_value(value)
            .await
            .unwrap();
    }

    async fn script(&self, js: &str) -> Value {
        self.client.execute(js, vec![]).await.unwrap()
    }

    /// Checks what a page must be for everyone: every form control labelled, nothing wider
    /// than the screen at 360 px and at 640 px (1280 px at 200 % zoom), then writes the
    /// desktop and 360 px screenshots `docs/console/{name}-desktop.png` and `…-360.png`.
    async fn check_and_shoot(&self, name: &str) {
        let unlabelled = self
            .script(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
                   .filter(e => !e.hidden && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                && !(e.tagName === 'BUTTON' && e.textContent.trim()))
                   .map(e => e.outerHTML);",
            )
            .await;
        assert_eq!(unlabelled, json!([]), "{name}: controls without a label");
        let dangling = self
            .script(
                "return [...document.querySelectorAll('[aria-describedby]')]
                   .flatMap(e => e.getAttribute('aria-describedby').split(/\\s+/))
                   .filter(id => id && !document.getElementById(id));",
            )
            .await;
        assert_eq!(
            dangling,
            json!([]),
            "{name}: aria-describedby names no element"
        );
        let no_legend = self
            .script("return [...document.querySelectorAll('fieldset')].filter(f => !f.querySelector(':scope > legend')).length;")
            .await;
        assert_eq!(no_legend, json!(0), "{name}: a fieldset without a legend");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        std::fs::create_dir_all(&dir).unwrap();
        for (width, file) in [(1280, "desktop"), (640, ""), (360, "360")] {
            self.client.set_window_size(width, 1000).await.unwrap();
            let overflow = self
                .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
                .await;
            assert!(
                overflow.as_i64().unwrap_or(0) <= 0,
                "{name}: wider than the screen at {width} px by {overflow} px"
            );
            if !file.is_empty() {
                // The whole page: the window as tall as the document (within reason).
                let height = self
                    .script("return document.documentElement.scrollHeight;")
                    .await
                    .as_u64()
                    .unwrap_or(1000)
                    .clamp(600, 3000) as u32;
                self.client.set_window_size(width, height).await.unwrap();
                let png = self.client.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{name}-{file}.png")), png).unwrap();
            }
        }
        self.client.set_window_size(1280, 1000).await.unwrap();
    }
}

/// Polls `check` for up to 20 s (deliveries are asynchronous).
async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "did not happen within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_receptionist_connects_slack_sees_the_preview_and_the_booking_arrives_signed() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let link = login_link(&app, &tenant, &key).await;

    browser.goto(&link).await;
    assert_eq!(browser.text("h1").await, "Integrationer");
    browser.check_and_shoot("home-empty").await;
    browser.click_link("Tilføj integration").await;
    assert_eq!(browser.text("h1").await, "Tilføj en integration");
    browser.check_and_shoot("add").await;
    browser.click("a.tile[href='/console/new/slack']").await;
    assert!(browser.text("#url-help").await.contains("hooks.slack.com"));

    // English messages, all three booking events (checked by default), then a preview.
    browser.fill("#description", "Receptionens Slack").await;
    browser
        .fill("#url", &receiver.url("/services/T000/B000/XXXX"))
        .await;
    browser.choose("#cfg-locale", "en").await;
    browser.click("button[value=preview]").await;
    let preview = browser.text(".preview").await;
    assert!(preview.contains("New booking"), "{preview}");
    assert!(preview.contains("Parterapi"), "{preview}");
    for private in [
        "jens.odegaard@example.com",
        "+45 20 12 34 56",
        "Første samtale",
    ] {
        assert!(
            !preview.contains(private),
            "{private} in the preview: {preview}"
        );
    }
    browser.check_and_shoot("slack-preview").await;

    browser.click("button[value=save]").await;
    assert_eq!(browser.text("h1").await, "Integrationen er gemt");
    let secret = browser.text("#secret").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    // The copy button shows because the console's script ran under its CSP (it is hidden
    // in the HTML, for browsers without script).
    assert_eq!(
        browser
            .script("return document.querySelector('button[data-copy=secret]').hidden;")
            .await,
        json!(false)
    );
    browser.check_and_shoot("saved").await;

    let accepted = app.ingest(&tenant, &key, fresh("created")).await;
    let got = receiver.wait_for(1).await;
    verify(&secret, &got[0]).expect("signed with the secret shown once");
    let body = got[0].json();
    assert_eq!(body["blocks"][0]["text"]["text"], "New booking", "{body}");
    let sent = String::from_utf8_lossy(&got[0].body);
    assert!(!sent.contains("jens.odegaard@example.com"), "{sent}");

    browser.click_link("Gå til integrationen").await;
    eventually(|| async {
        browser.client.refresh().await.unwrap();
        browser
            .client
            .find(Locator::Css("span.result-succeeded"))
            .await
            .is_ok()
    })
    .await;
    assert!(
        !browser.html().await.contains("whsec_"),
        "the secret is not shown again"
    );
    browser.goto(&format!("{}/console/", app.base)).await;
    let card = browser.text(".card").await;
    assert!(card.contains("127.0.0.1"), "the destination's host: {card}");
    assert!(!card.contains("T000"), "never the rest of the URL: {card}");
    browser.check_and_shoot("home").await;

    // The link was used: opening it again is refused.
    browser.goto(&link).await;
    assert_eq!(browser.text("h1").await, "Linket virker ikke længere");
    let _ = accepted;
}

#[tokio::test]
async fn the_sheets_tile_gives_the_script_and_previews_the_row() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    browser.goto(&login_link(&app, &tenant, &key).await).await;
    browser
        .goto(&format!("{}/console/new/sheets", app.base))
        .await;
    let script = browser.text("#apps-script").await;
    assert!(script.contains("function doPost(e)"), "{script}");
    assert!(browser.text("ol.steps").await.contains("Apps Script"));
    browser
        .fill("#url", "https://script.google.com/macros/s/AKfy/exec")
        .await;
    browser.click("button[value=preview]").await;
    let row = browser.text("table.sheet").await;
    assert!(row.contains("booking.created"), "{row}");
    assert!(row.contains("bk_1042"), "{row}");
    assert!(row.contains("Parterapi"), "{row}");
    browser.check_and_shoot("sheets").await;
}

#[tokio::test]
async fn an_uploaded_modules_settings_are_a_form_from_its_schema_with_errors_at_the_field() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let schema = json!({
        "type": "object",
        "properties": {
            "channel": {"type": "string", "title": "Kanal", "description": "Hvor beskeden skal hen."},
            "level": {"title": "Niveau", "oneOf": [{"const": "low", "description": "Lavt"},
                                                    {"const": "high", "description": "Højt"}],
                      "default": "low"},
            "count": {"type": "integer", "title": "Antal", "minimum": 1, "maximum": 5, "default": 2},
            "loud": {"type": "boolean", "title": "Med lyd"}
        },
        "required": ["channel"]
    });
    let (status, _) = app
        .upload(
            &format!("/v1/tenants/{tenant}/modules/kanal"),
            &key,
            plugin_with_schema(&schema),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    browser.goto(&login_link(&app, &tenant, &key).await).await;
    browser.goto(&format!("{}/console/new", app.base)).await;
    browser.click_link("kanal").await;
    assert_eq!(browser.text("label[for=cfg-level]").await, "Niveau");
    assert_eq!(
        browser.text("#cfg-channel-help").await,
        "Hvor beskeden skal hen."
    );
    browser.fill("#url", &receiver.url("/")).await;
    browser.fill("#cfg-channel", "reception").await;
    browser.fill("#cfg-count", "9").await;
    browser.click("button[value=save]").await;
    let error = browser.text("#cfg-count-error").await;
    assert!(error.contains('5'), "{error}");
    browser.check_and_shoot("custom-error").await;
    browser.fill("#cfg-count", "3").await;
    browser.click("button[value=save]").await;
    assert_eq!(browser.text("h1").await, "Integrationen er gemt");
}

#[tokio::test]
async fn a_failed_delivery_shows_its_attempts_and_send_again_delivers_it() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script((0..4).map(|_| Answer::status(500)));
    let (tenant, key) = app.tenant("klinik").await;
    let subscription = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/"), "event_types": ["booking.created"],
                   "description": "Bogføring"}),
        )
        .await;
    let id = subscription["id"].as_str().unwrap();
    let accepted = app.ingest(&tenant, &key, fresh("created")).await;
    let event = accepted["id"].as_str().unwrap();
    app.wait_for_deliveries(&tenant, &key, event, |d| {
        d.len() == 1 && d[0]["status"] == "failed"
    })
    .await;

    browser.goto(&login_link(&app, &tenant, &key).await).await;
    browser.click_link("Bogføring").await;
    browser.choose("#status", "failed").await;
    browser.click("form[method=get] button").await;
    browser.check_and_shoot("integration").await;
    browser.click("table.deliveries td a").await;
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css("li.attempt"))
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(
        browser
            .html()
            .await
            .contains("Modtageren svarede med fejlkode 500")
    );
    browser.check_and_shoot("delivery").await;
    browser.click("form[action$='/retry'] button").await;
    assert!(browser.text(".notice").await.contains("sendt igen"));
    app.wait_for_deliveries(&tenant, &key, event, |d| d[0]["status"] == "succeeded")
        .await;
    browser.client.refresh().await.unwrap();
    assert!(browser.text("dl.summary").await.contains("Leveret"));
    let _ = id;
}

#[tokio::test]
async fn a_session_cannot_reach_another_tenants_pages_or_post_without_its_token() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant_a, key_a) = app.tenant("klinik-a").await;
    let (tenant_b, key_b) = app.tenant("klinik-b").await;
    let theirs = app
        .subscribe(
            &tenant_b,
            &key_b,
            json!({"url": receiver.url("/"), "event_types": ["booking.created"]}),
        )
        .await;
    let mine = app
        .subscribe(
            &tenant_a,
            &key_a,
            json!({"url": receiver.url("/"), "event_types": ["booking.created"]}),
        )
        .await;
    browser
        .goto(&login_link(&app, &tenant_a, &key_a).await)
        .await;
    browser
        .goto(&format!(
            "{}/console/integrations/{}",
            app.base,
            theirs["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(browser.text("h1").await, "Siden findes ikke");

    // A form whose token was taken out (as a forged form would lack it) is refused.
    browser
        .goto(&format!(
            "{}/console/integrations/{}",
            app.base,
            mine["id"].as_str().unwrap()
        ))
        .await;
    browser
        .script(
            "document.querySelectorAll('input[name=csrf]').forEach(e => e.remove()); return null;",
        )
        .await;
    browser.click("form[action$='/pause'] button").await;
    assert_eq!(browser.text("h1").await, "Formularen kunne ikke sendes");
    let (_, still) = app
        .get(
            &format!(
                "/v1/tenants/{tenant_a}/subscriptions/{}",
                mine["id"].as_str().unwrap()
            ),
            &key_a,
        )
        .await;
    assert_eq!(still["enabled"], true);

    // English on request, remembered on the next page.
    browser
        .goto(&format!("{}/console/?lang=en", app.base))
        .await;
    assert_eq!(browser.text("h1").await, "Integrations");
    browser.click_link("Add an integration").await;
    assert_eq!(browser.text("h1").await, "Add an integration");
    browser
        .goto(&format!("{}/console/?lang=da", app.base))
        .await;
    assert_eq!(browser.text("h1").await, "Integrationer");
}

#[tokio::test]
async fn an_integration_stopped_after_failures_starts_again_with_one_click_and_resends() {
    let Some(browser) = browser().await else {
        return;
    };
    let app = TestApp::spawn_with(|config| {
        config.retry_schedule = vec![Duration::from_millis(100); 3];
        config.disable_after = Duration::from_millis(150);
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.script(std::iter::repeat_n(Answer::status(500), 200));
    let (tenant, key) = app.tenant("klinik").await;
    let subscription = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/"), "event_types": ["booking.created"],
                   "description": "Bookingark"}),
        )
        .await;
    let id = subscription["id"].as_str().unwrap().to_owned();
    let accepted = app.ingest(&tenant, &key, fresh("created")).await;
    let event = accepted["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tenants/{tenant}/subscriptions/{id}");
    eventually(|| async { app.get(&path, &key).await.1["disabled_reason"] == "failing" }).await;
    app.wait_for_deliveries(&tenant, &key, &event, |d| d[0]["status"] == "failed")
        .await;
    receiver.recover();
    let before = receiver.received().len();

    browser.goto(&login_link(&app, &tenant, &key).await).await;
    assert!(browser.text(".card").await.contains("Stoppet efter fejl"));
    browser.click_link("Bookingark").await;
    let banner = browser.text(".banner").await;
    assert!(banner.contains("fejlet siden"), "{banner}");
    browser.check_and_shoot("stopped").await;
    browser.click(".banner button").await;
    let notice = browser.text(".notice").await;
    assert!(
        notice.contains("1 mislykket levering bliver sendt igen"),
        "{notice}"
    );
    app.wait_for_deliveries(&tenant, &key, &event, |d| d[0]["status"] == "succeeded")
        .await;
    assert_eq!(
        receiver.received().len(),
        before + 1,
        "the missed booking arrived once"
    );
    let (_, now) = app.get(&path, &key).await;
    assert_eq!(now["enabled"], true, "{now}");
    assert_eq!(now["disabled_reason"], Value::Null, "{now}");
}
