//! Personal data, seen from outside: retention deletes old payloads but not what pending work
//! needs, an erasure leaves no copy (on SQLite not even in the database file or its WAL), a
//! deleted tenant leaves no row behind, and the export is JSON Lines without secrets.

use std::time::Duration;

use crate::common::{ADMIN_KEY, Answer, Backend, Receiver, TestApp, fresh};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The client of the `created`/`updated` fixtures (booking `bk_1042`), as stored.
const JENS: [&str; 3] = [
    "jens.odegaard@example.com",
    "Jens Ødegård",
    "+45 20 12 34 56",
];

/// The client of the `created-online` fixture (booking `bk_2077`), who is not erased.
const ASE: &str = "Åse Kjær";

/// A connection of the test's own to krog's database.
async fn pool(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&app.db.url)
        .await
        .expect("the test connects to krog's database")
}

async fn count(pool: &sqlx::AnyPool, sql: &str, bind: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(bind)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

/// Every stored text that can hold personal data, joined: payloads, bodies, headers, skip
/// reasons, answer excerpts and errors.
async fn stored_text(app: &TestApp) -> String {
    let pool = pool(app).await;
    let mut text = String::new();
    let events: Vec<(String,)> = sqlx::query_as("SELECT data FROM events")
        .fetch_all(&pool)
        .await
        .unwrap();
    for (data,) in events {
        text.push_str(&data);
    }
    type DeliveryText = (Option<Vec<u8>>, Option<String>, Option<String>);
    let deliveries: Vec<DeliveryText> =
        sqlx::query_as("SELECT request_body, request_headers, skip_reason FROM deliveries")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (body, headers, skip) in deliveries {
        text.push_str(&String::from_utf8_lossy(&body.unwrap_or_default()));
        text.push_str(&headers.unwrap_or_default());
        text.push_str(&skip.unwrap_or_default());
    }
    let attempts: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT response, error FROM attempts")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (response, error) in attempts {
        text.push_str(&response.unwrap_or_default());
        text.push_str(&error.unwrap_or_default());
    }
    pool.close().await;
    text
}

/// The raw bytes of the SQLite database file and its WAL.
fn sqlite_files(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let db = app.db.dir.path().join("krog.db");
    let mut files = vec![(
        "krog.db".to_owned(),
        std::fs::read(&db).expect("the database file"),
    )];
    if let Ok(wal) = std::fs::read(app.db.dir.path().join("krog.db-wal")) {
        files.push(("krog.db-wal".to_owned(), wal));
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn read_delivery(app: &TestApp, tenant: &str, key: &str, id: &str) -> Value {
    let (status, delivery) = app
        .get(&format!("/v1/tenants/{tenant}/deliveries/{id}"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{delivery}");
    delivery
}

/// Polls one delivery until `done` holds.
async fn wait_for_delivery(
    app: &TestApp,
    tenant: &str,
    key: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let delivery = read_delivery(app, tenant, key, id).await;
        if done(&delivery) {
            return delivery;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery {id} never got there: {delivery:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The delivery of `event` to `subscription`, once it has settled or had its first attempt.
async fn delivery_of(
    app: &TestApp,
    tenant: &str,
    key: &str,
    event: &Value,
    subscription: &Value,
) -> Value {
    let list = app
        .wait_for_deliveries(tenant, key, event["id"].as_str().unwrap(), |list| {
            list.iter().any(|d| {
                d["subscription_id"] == subscription["id"]
                    && (d["status"] != "pending" || !d["attempts"].as_array().unwrap().is_empty())
            })
        })
        .await;
    list.into_iter()
        .find(|d| d["subscription_id"] == subscription["id"])
        .unwrap()
}

/// The delivery of `event` to `subscription` once it has succeeded (a first attempt may fail
/// and be retried).
async fn succeeded(
    app: &TestApp,
    tenant: &str,
    key: &str,
    event: &Value,
    subscription: &Value,
) -> Value {
    let list = app
        .wait_for_deliveries(tenant, key, event["id"].as_str().unwrap(), |list| {
            list.iter()
                .any(|d| d["subscription_id"] == subscription["id"] && d["status"] == "succeeded")
        })
        .await;
    list.into_iter()
        .find(|d| d["subscription_id"] == subscription["id"])
        .unwrap()
}

/// A receiver that refuses everything (500), for deliveries that stay pending.
async fn refusing_receiver() -> Receiver {
    let receiver = Receiver::start().await;
    receiver.script((0..100).map(|_| Answer::status(500)));
    receiver
}

#[tokio::test]
async fn old_payloads_bodies_and_answers_are_deleted_but_pending_work_keeps_its_event() {
    let app = TestApp::spawn_with(|config| {
        config.retention = Duration::from_secs(1);
        config.retention_interval = Duration::from_millis(200);
        // One retry, a minute on: a refused delivery stays pending for the whole test.
        config.retry_schedule = vec![Duration::from_secs(60)];
    })
    .await;
    let ok = Receiver::start().await;
    let refusing = refusing_receiver().await;
    let (tenant, key) = app.tenant("klinik").await;
    let both = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": ok.url("/all"), "event_types": ["booking.created", "booking.updated"]}),
        )
        .await;
    let failing = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": refusing.url("/updates"), "event_types": ["booking.updated"]}),
        )
        .await;
    let settled_event = fresh("created");
    let pending_event = fresh("updated");
    app.ingest(&tenant, &key, settled_event.clone()).await;
    app.ingest(&tenant, &key, pending_event.clone()).await;
    let settled = succeeded(&app, &tenant, &key, &settled_event, &both).await;
    let pending = delivery_of(&app, &tenant, &key, &pending_event, &failing).await;
    assert_eq!(pending["status"], "pending", "{pending:#}");

    let settled_id = settled["id"].as_str().unwrap();
    let deleted = wait_for_delivery(&app, &tenant, &key, settled_id, |d| {
        d["payload_deleted"].is_string()
            && d["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|a| a["response"].is_null())
    })
    .await;
    assert_eq!(
        deleted["payload_deleted"],
        "payload deleted after 1 second (retention)"
    );
    assert_eq!(
        deleted["request"]["payload_deleted"], deleted["payload_deleted"],
        "{deleted:#}"
    );
    assert!(deleted["request"]["body"].is_null(), "{deleted:#}");
    assert_eq!(deleted["status"], "succeeded");

    // The pending delivery's event is kept whole, and its request can still be rebuilt.
    let pending_id = pending["id"].as_str().unwrap();
    let still = read_delivery(&app, &tenant, &key, pending_id).await;
    assert_eq!(still["status"], "pending", "{still:#}");
    assert!(still["payload_deleted"].is_null(), "{still:#}");
    let body = still["request"]["body"].as_str().unwrap();
    assert!(body.contains("Jens Ødegård"), "{body}");
    let db = pool(&app).await;
    let kept = count(
        &db,
        "SELECT COUNT(*) FROM events WHERE id = $1 AND payload_deleted_at IS NULL AND data <> ''",
        pending_event["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(kept, 1);
    let emptied = count(
        &db,
        "SELECT COUNT(*) FROM events WHERE id = $1 AND payload_deleted_at IS NOT NULL AND data = ''",
        settled_event["id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(emptied, 1);
    db.close().await;

    // Retried by hand, a delivery whose payload is gone fails and says why; nothing is sent.
    let sent_before = ok.received().len();
    let (status, retried) = app
        .post(
            &format!("/v1/tenants/{tenant}/deliveries/{settled_id}/retry"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    let failed =
        wait_for_delivery(&app, &tenant, &key, settled_id, |d| d["status"] == "failed").await;
    let last = failed["attempts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "payload_deleted", "{failed:#}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .starts_with("payload deleted after 1 second (retention)"),
        "{last}"
    );
    assert_eq!(ok.received().len(), sent_before, "nothing was sent again");
}

#[tokio::test]
async fn an_erasure_by_booking_id_leaves_no_copy_and_cancels_pending_deliveries() {
    let app = TestApp::spawn_with(|config| {
        config.retry_schedule = vec![Duration::from_secs(60)];
    })
    .await;
    let ok = Receiver::start().await;
    let refusing = refusing_receiver().await;
    let (tenant, key) = app.tenant("klinik").await;
    let envelope = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": ok.url("/all"), "event_types": ["booking.created", "booking.updated"]}),
        )
        .await;
    let slack = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": ok.url("/slack"), "event_types": ["booking.created", "booking.updated"],
                   "transform": {"module": "slack", "config": {"include_client_contact": true, "locale": "en"}}}),
        )
        .await;
    let failing = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": refusing.url("/created"), "event_types": ["booking.created"]}),
        )
        .await;
    let created = fresh("created");
    let updated = fresh("updated");
    let other = fresh("created-online");
    for event in [&created, &updated, &other] {
        app.ingest(&tenant, &key, event.clone()).await;
    }
    let mut settled = Vec::new();
    for event in [&created, &updated, &other] {
        settled.push(succeeded(&app, &tenant, &key, event, &envelope).await);
        settled.push(succeeded(&app, &tenant, &key, event, &slack).await);
    }
    let pending = delivery_of(&app, &tenant, &key, &created, &failing).await;
    assert_eq!(pending["status"], "pending", "{pending:#}");
    let slack_body = read_delivery(&app, &tenant, &key, settled[1]["id"].as_str().unwrap()).await;
    assert!(
        slack_body["request"]["body"]
            .as_str()
            .unwrap()
            .contains(JENS[0]),
        "the Slack message carries the address before the erasure: {slack_body:#}"
    );

    let (status, erasure) = app
        .post(
            &format!("/v1/tenants/{tenant}/erasures"),
            &key,
            json!({"booking_id": "bk_1042"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{erasure}");
    assert_eq!(erasure["key"], "booking_id");
    assert_eq!(erasure["events"], 2, "{erasure}");
    assert_eq!(erasure["cancelled_deliveries"], 1, "{erasure}");
    assert_eq!(erasure["deliveries"], 5, "{erasure}");
    assert!(!erasure.to_string().contains("bk_1042"), "{erasure}");

    let cancelled = read_delivery(&app, &tenant, &key, pending["id"].as_str().unwrap()).await;
    assert_eq!(cancelled["status"], "failed", "{cancelled:#}");
    let last = cancelled["attempts"].as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "cancelled");
    assert!(
        last["error"].as_str().unwrap().starts_with(&format!(
            "cancelled by erasure {}",
            erasure["id"].as_str().unwrap()
        )),
        "{last}"
    );
    let erased = read_delivery(&app, &tenant, &key, settled[0]["id"].as_str().unwrap()).await;
    let note = format!(
        "payload erased on request (erasure {})",
        erasure["id"].as_str().unwrap()
    );
    assert_eq!(erased["payload_deleted"], note.as_str(), "{erased:#}");
    assert_eq!(erased["request"]["payload_deleted"], note.as_str());
    let untouched = read_delivery(&app, &tenant, &key, settled[4]["id"].as_str().unwrap()).await;
    assert!(untouched["payload_deleted"].is_null(), "{untouched:#}");

    let text = stored_text(&app).await;
    for value in JENS {
        assert!(!text.contains(value), "{value} is still stored");
    }
    assert!(text.contains(ASE), "the other client's booking is kept");
    if crate::BACKEND == Backend::Sqlite {
        let files = sqlite_files(&app);
        for (file, bytes) in &files {
            for value in JENS {
                assert!(!contains(bytes, value), "{value} is still in {file}");
            }
        }
        assert!(
            files.iter().any(|(_, bytes)| contains(bytes, ASE)),
            "the search finds what is there (the other client's name)"
        );
    }
}

#[tokio::test]
async fn an_erasure_by_email_is_listed_with_counts_and_never_the_address() {
    let app = TestApp::spawn().await;
    let ok = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": ok.url("/all"), "event_types": ["booking.created", "booking.updated"]}),
        )
        .await;
    let created = fresh("created");
    let updated = fresh("updated");
    let other = fresh("created-online");
    for event in [&created, &updated, &other] {
        app.ingest(&tenant, &key, event.clone()).await;
    }
    for event in [&created, &updated, &other] {
        succeeded(&app, &tenant, &key, event, &sub).await;
    }
    let (status, erasure) = app
        .post(
            &format!("/v1/tenants/{tenant}/erasures"),
            &key,
            json!({"client_email": "Jens.Odegaard@Example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{erasure}");
    assert_eq!(erasure["events"], 2, "{erasure}");
    assert_eq!(erasure["deliveries"], 2, "{erasure}");
    assert_eq!(erasure["cancelled_deliveries"], 0, "{erasure}");

    let (status, bad) = app
        .post(
            &format!("/v1/tenants/{tenant}/erasures"),
            &key,
            json!({"client_email": "a@b.dk", "booking_id": "bk_1"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    let (status, list) = app
        .get(&format!("/v1/tenants/{tenant}/erasures"), &key)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{list}");
    assert_eq!(data[0]["id"], erasure["id"]);
    assert_eq!(data[0]["key"], "client_email");
    assert!(
        !list.to_string().to_lowercase().contains("odegaard"),
        "{list}"
    );
    let text = stored_text(&app).await;
    for value in JENS {
        assert!(!text.contains(value), "{value} is still stored");
    }
    assert!(text.contains(ASE));
    if crate::BACKEND == Backend::Sqlite {
        for (file, bytes) in sqlite_files(&app) {
            for value in JENS {
                assert!(!contains(&bytes, value), "{value} is still in {file}");
            }
        }
    }
}

/// The catalog's Slack module with a custom section appended: the same plugin, bytes of its
/// own (so that deleting the tenant must delete them).
async fn own_module_bytes(app: &TestApp, key: &str) -> Vec<u8> {
    let (status, versions) = app.get("/v1/modules/slack", key).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let version = versions["data"].as_array().unwrap().last().unwrap()["version"].clone();
    let response = app
        .client
        .get(app.url(&format!("/v1/modules/slack/versions/{version}/wasm")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let mut bytes = response.bytes().await.unwrap().to_vec();
    let name = b"krog-test";
    bytes.extend_from_slice(&[0x00, (1 + name.len() + 1) as u8, name.len() as u8]);
    bytes.extend_from_slice(name);
    bytes.push(b'x');
    bytes
}

#[tokio::test]
async fn deleting_a_tenant_removes_everything_it_owns_and_nothing_of_another() {
    let app = TestApp::spawn().await;
    let ok = Receiver::start().await;
    let (gone, gone_key) = app.tenant("gone").await;
    let (kept, kept_key) = app.tenant("kept").await;

    let bytes = own_module_bytes(&app, &gone_key).await;
    let response = app
        .client
        .put(app.url(&format!("/v1/tenants/{gone}/modules/mine")))
        .bearer_auth(&gone_key)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let module: Value = response.json().await.unwrap();
    let sha256 = module["sha256"].as_str().unwrap().to_owned();

    for (tenant, key) in [(&gone, &gone_key), (&kept, &kept_key)] {
        let sub = app
            .subscribe(
                tenant,
                key,
                json!({"url": ok.url("/all"), "event_types": ["booking.created"]}),
            )
            .await;
        let event = fresh("created");
        app.ingest(tenant, key, event.clone()).await;
        succeeded(&app, tenant, key, &event, &sub).await;
    }
    let (status, _) = app
        .post(
            &format!("/v1/tenants/{gone}/erasures"),
            &gone_key,
            json!({"client_phone": "+4599999999"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/tenants/{gone}"),
            &gone_key,
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only an admin deletes a tenant"
    );
    let (status, body) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/tenants/{gone}"),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = app
        .get(&format!("/v1/tenants/{gone}/deliveries"), &gone_key)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the tenant's key is gone at once"
    );
    let (status, _) = app
        .get(&format!("/v1/tenants/{gone}/deliveries"), ADMIN_KEY)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/tenants/{gone}"),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let db = pool(&app).await;
    for (sql, bind, expected) in [
        (
            "SELECT COUNT(*) FROM tenants WHERE id = $1",
            gone.as_str(),
            0,
        ),
        (
            "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1",
            &gone,
            0,
        ),
        (
            "SELECT COUNT(*) FROM subscriptions WHERE tenant_id = $1",
            &gone,
            0,
        ),
        ("SELECT COUNT(*) FROM events WHERE tenant_id = $1", &gone, 0),
        (
            "SELECT COUNT(*) FROM deliveries WHERE tenant_id = $1",
            &gone,
            0,
        ),
        (
            "SELECT COUNT(*) FROM erasures WHERE tenant_id = $1",
            &gone,
            0,
        ),
        (
            "SELECT COUNT(*) FROM module_versions WHERE owner = $1",
            &gone,
            0,
        ),
        (
            "SELECT COUNT(*) FROM module_blobs WHERE sha256 = $1",
            &sha256,
            0,
        ),
        // What is left of secrets and attempts is the other tenant's.
        (
            "SELECT COUNT(*) FROM subscription_secrets s JOIN subscriptions u ON u.id = s.subscription_id \
             WHERE u.tenant_id <> $1",
            &kept,
            0,
        ),
        (
            "SELECT COUNT(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.tenant_id <> $1",
            &kept,
            0,
        ),
        ("SELECT COUNT(*) FROM events WHERE tenant_id = $1", &kept, 1),
        (
            "SELECT COUNT(*) FROM deliveries WHERE tenant_id = $1",
            &kept,
            1,
        ),
        (
            "SELECT COUNT(*) FROM subscriptions WHERE tenant_id = $1",
            &kept,
            1,
        ),
    ] {
        assert_eq!(count(&db, sql, bind).await, expected, "{sql} ({bind})");
    }
    let (orphans,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    db.close().await;
    let (status, _) = app
        .get(&format!("/v1/tenants/{kept}/deliveries"), &kept_key)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_export_is_json_lines_with_the_deliveries_and_no_secret() {
    let app = TestApp::spawn().await;
    let ok = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": ok.url("/all"), "event_types": ["booking.created"]}),
        )
        .await;
    let secret = sub["secret"].as_str().unwrap().to_owned();
    let mut deliveries = Vec::new();
    for _ in 0..3 {
        let event = fresh("created");
        app.ingest(&tenant, &key, event.clone()).await;
        deliveries.push(succeeded(&app, &tenant, &key, &event, &sub).await);
    }
    let response = app
        .client
        .get(app.url(&format!("/v1/tenants/{tenant}/export")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = response.text().await.unwrap();
    assert!(!text.contains(&secret), "the export carries no secret");
    let secret_key = secret.trim_start_matches("whsec_");
    assert!(!text.contains(secret_key));
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is one JSON object"))
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"tenant"));
    assert_eq!(kinds.last(), Some(&"end"));
    assert_eq!(kinds.iter().filter(|k| **k == "subscription").count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "event").count(), 3);
    let subscription = lines.iter().find(|l| l["kind"] == "subscription").unwrap();
    assert!(subscription.get("secret").is_none(), "{subscription}");
    for delivery in &deliveries {
        let line = lines
            .iter()
            .find(|l| l["kind"] == "delivery" && l["id"] == delivery["id"])
            .unwrap_or_else(|| panic!("delivery {} is in the export", delivery["id"]));
        assert_eq!(line["status"], "succeeded");
        assert_eq!(line["attempts"][0]["status_code"], 200, "{line}");
    }
    let event = lines.iter().find(|l| l["kind"] == "event").unwrap();
    assert_eq!(event["data"]["client"]["name"], "Jens Ødegård");
    assert_eq!(lines.last().unwrap()["counts"]["delivery"], 3);

    let (_, other_key) = app.tenant("other").await;
    let (status, _) = app
        .get(&format!("/v1/tenants/{tenant}/export"), &other_key)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's key sees nothing"
    );
}

#[tokio::test]
async fn a_tenant_sets_its_own_retention_and_sees_it() {
    let app = TestApp::spawn().await;
    let (status, tenant) = app
        .post(
            "/v1/tenants",
            ADMIN_KEY,
            json!({"id": "klinik", "name": "Klinik", "retention": "7d"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    assert_eq!(tenant["retention"], "7d");
    let (_, key) = app
        .post("/v1/tenants/klinik/keys", ADMIN_KEY, json!({}))
        .await;
    let key = key["key"].as_str().unwrap();
    let patch = |body: Value| {
        app.call(
            reqwest::Method::PATCH,
            "/v1/tenants/klinik",
            key,
            Some(body),
        )
    };
    let (status, tenant) = patch(json!({"retention": "36h"})).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["retention"], "36h");
    let (status, tenant) = patch(json!({"retention": null})).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert!(tenant["retention"].is_null(), "back to KROG_RETENTION");
    let (status, _) = patch(json!({"retention": "tomorrow"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = patch(json!({"name": "Renamed"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the name is the admin's");
    let (status, list) = app.get("/v1/tenants", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["data"][0]["retention"].is_null(), "{list}");
}
