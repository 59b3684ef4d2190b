//! Personal data stays out of krog's log and metrics: the real binary, at `RUST_LOG=debug`,
//! goes through what touches bookings — ingest, transforms (a formatter, a failing plugin),
//! deliveries that succeed, fail and are retried, dry runs, test sends, the delivery log — and
//! then neither its log nor `/metrics` holds a client's or therapist's name, email or phone.

#[allow(dead_code)]
mod common;

/// This test runs the binary on SQLite, and on PostgreSQL too when it is configured.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ADMIN_KEY, Answer, Receiver, fixture, fresh, krog_binary};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Every piece of personal data the fixtures carry.
fn personal_data() -> Vec<String> {
    let mut found = Vec::new();
    for name in ["created", "created-online", "updated", "deleted"] {
        let data = &fixture(name)["data"];
        for person in ["client", "therapist"] {
            for field in ["name", "email", "phone"] {
                if let Some(text) = data[person][field].as_str() {
                    found.push(text.to_owned());
                }
            }
        }
        if let Some(notes) = data["notes"].as_str() {
            found.push(notes.to_owned());
        }
    }
    found.sort();
    found.dedup();
    assert!(
        found.len() >= 5,
        "the fixtures carry personal data: {found:?}"
    );
    found
}

async fn run_against(database_url: &str, dir: &std::path::Path) {
    let log = Arc::new(Mutex::new(String::new()));
    let mut child = tokio::process::Command::new(krog_binary())
        .arg("serve")
        .current_dir(dir)
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", database_url)
        .env("KROG_CACHE_DIR", dir.join("krog-cache"))
        .env("KROG_BUILTIN_MODULES", crate::common::RUST_BUILTINS)
        .env("KROG_ADMIN_KEY", ADMIN_KEY)
        .env("KROG_ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("KROG_ALLOW_HTTP", "true")
        .env("KROG_RETRY_SCHEDULE", "50ms,100ms")
        .env("KROG_SQLITE_SYNCHRONOUS", "NORMAL")
        .env("RUST_LOG", "debug")
        // PostgreSQL has no key file next to a database: every node is given the key.
        .env("KROG_SECRET_KEY", common::TEST_SECRET_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("krog starts");
    let (address_tx, address_rx) = tokio::sync::oneshot::channel();
    {
        let err_log = log.clone();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            let mut address_tx = Some(address_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line
                    .split("address=")
                    .nth(1)
                    .filter(|_| line.contains("listening"))
                    && let Some(tx) = address_tx.take()
                {
                    let _ = tx.send(rest.split_whitespace().next().unwrap().to_owned());
                }
                let mut log = err_log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let out_log = log.clone();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let mut log = out_log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    let address = tokio::time::timeout(Duration::from_secs(60), address_rx)
        .await
        .expect("krog listens within a minute")
        .unwrap();
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, key: String, body: Option<Value>| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let mut request = client
                .request(method, format!("{base}{path}"))
                .bearer_auth(key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    use reqwest::Method;
    call(
        Method::POST,
        "/v1/tenants".into(),
        ADMIN_KEY.into(),
        Some(json!({"id": "pii", "name": "Klinik"})),
    )
    .await;
    let (_, key) = call(
        Method::POST,
        "/v1/tenants/pii/keys".into(),
        ADMIN_KEY.into(),
        Some(json!({})),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let good = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.script((0..20).map(|_| Answer::status(500)));
    let mut subscriptions = Vec::new();
    for body in [
        json!({"url": good.url("/slack"), "event_types": ["booking.created", "booking.updated", "booking.deleted"],
               "transform": {"module": "slack", "config": {"locale": "da"}}}),
        json!({"url": good.url("/plain"), "event_types": ["booking.created", "booking.updated", "booking.deleted"]}),
        json!({"url": failing.url("/failing"), "event_types": ["booking.created"]}),
        json!({"url": good.url("/sheets"), "event_types": ["booking.created"], "transform": {"module": "sheets", "config": {}}}),
    ] {
        let (status, sub) = call(
            Method::POST,
            "/v1/tenants/pii/subscriptions".into(),
            key.clone(),
            Some(body),
        )
        .await;
        assert_eq!(status, 201, "{sub}");
        subscriptions.push(sub["id"].as_str().unwrap().to_owned());
    }
    // A plugin that fails with an error of its own.
    let hostile = krog_test_components::HOSTILE.to_vec();
    let response = client
        .put(format!("{base}/v1/tenants/pii/modules/hostile"))
        .bearer_auth(&key)
        .header("content-type", "application/wasm")
        .body(hostile)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    call(Method::POST, "/v1/tenants/pii/subscriptions".into(), key.clone(),
        Some(json!({"url": good.url("/hostile"), "event_types": ["booking.created"], "transform": {"module": "tenant:hostile", "config": "err"}}))).await;
    for name in ["created", "created-online", "updated", "deleted"] {
        let (status, body) = call(
            Method::POST,
            "/v1/tenants/pii/events".into(),
            key.clone(),
            Some(fresh(name)),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    // The same event again (a duplicate), a dry run, a test send.
    let event = fresh("created");
    call(
        Method::POST,
        "/v1/tenants/pii/events".into(),
        key.clone(),
        Some(event.clone()),
    )
    .await;
    call(
        Method::POST,
        "/v1/tenants/pii/events".into(),
        key.clone(),
        Some(event),
    )
    .await;
    call(
        Method::POST,
        "/v1/modules/slack/run".into(),
        key.clone(),
        Some(json!({"event": fixture("created"), "config": {"locale": "en"}})),
    )
    .await;
    call(
        Method::POST,
        format!("/v1/tenants/pii/subscriptions/{}/test", subscriptions[0]),
        key.clone(),
        None,
    )
    .await;
    // A malformed event whose text carries personal data: the refusal must not echo it into
    // the log.
    let mut broken = fixture("created");
    broken["timestamp"] = json!("yesterday");
    call(
        Method::POST,
        "/v1/tenants/pii/events".into(),
        key.clone(),
        Some(broken),
    )
    .await;
    // Let retries run out and the log be read.
    good.wait_for(10).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, deliveries) = call(
        Method::GET,
        "/v1/tenants/pii/deliveries".into(),
        key.clone(),
        None,
    )
    .await;
    for delivery in deliveries["data"].as_array().unwrap() {
        let id = delivery["id"].as_str().unwrap();
        call(
            Method::GET,
            format!("/v1/tenants/pii/deliveries/{id}"),
            key.clone(),
            None,
        )
        .await;
    }
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = child.kill().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = log.lock().unwrap().clone();
    assert!(log.lines().count() > 20, "the log was captured: {log}");
    for secret in personal_data() {
        assert!(
            !log.contains(&secret),
            "the log holds {secret:?}:\n{}",
            log.lines()
                .filter(|l| l.contains(&secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(!metrics.contains(&secret), "/metrics holds {secret:?}");
    }
}

#[tokio::test]
async fn krogs_log_and_metrics_hold_no_personal_data_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("krog.db").display());
    run_against(&url, dir.path()).await;
}

#[tokio::test]
async fn krogs_log_and_metrics_hold_no_personal_data_on_postgres() {
    let Ok(base) = std::env::var("KROG_TEST_DATABASE_URL") else {
        eprintln!("KROG_TEST_DATABASE_URL is not set: the PostgreSQL run is skipped");
        return;
    };
    use sqlx::Connection;
    let name = format!("krog_pii_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::Executor::execute(
        &mut conn,
        format!("DROP DATABASE IF EXISTS {name}").as_str(),
    )
    .await
    .unwrap();
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let dir = tempfile::tempdir().unwrap();
    run_against(&format!("{prefix}/{name}"), dir.path()).await;
}
