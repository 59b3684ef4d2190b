//! Keys an admin manages: named, listed without the key, expiring, revoked — on this node at
//! once and on another node sharing the database; admin keys likewise, never the last one.

use std::time::Duration;

use crate::common::{ADMIN_KEY, TestApp, TestDatabase};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_tenants_keys_are_listed_without_the_key_and_a_revoked_one_is_refused() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("keyed").await;
    let (status, second) = app
        .post(
            &format!("/v1/tenants/{tenant}/keys"),
            ADMIN_KEY,
            json!({"name": "booking system"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second_key = second["key"].as_str().unwrap().to_owned();
    // Used once, so that the list can show when.
    let (status, _) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), &second_key)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, list) = app.get(&format!("/v1/tenants/{tenant}/keys"), &key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{list}");
    let text = list.to_string();
    assert!(
        !text.contains(&key) && !text.contains(&second_key),
        "a key was listed: {text}"
    );
    let named = data.iter().find(|k| k["name"] == "booking system").unwrap();
    assert!(named["created_at"].is_string());
    // last_used_at is written in the background.
    let mut used = false;
    for _ in 0..100 {
        let (_, list) = app.get(&format!("/v1/tenants/{tenant}/keys"), &key).await;
        if list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "booking system" && k["last_used_at"].is_string())
        {
            used = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(used, "last_used_at was never set");

    let id = named["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/keys/{id}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), &second_key)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Another tenant cannot see or revoke these keys.
    let (other, other_key) = app.tenant("stranger").await;
    let _ = other;
    let (status, _) = app
        .get(&format!("/v1/tenants/{tenant}/keys"), &other_key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_key_with_an_expiry_is_refused_after_it() {
    let app = TestApp::spawn().await;
    let (tenant, _) = app.tenant("expiring").await;
    let expires = chrono::Utc::now() + chrono::TimeDelta::seconds(2);
    let (status, created) = app
        .post(
            &format!("/v1/tenants/{tenant}/keys"),
            ADMIN_KEY,
            json!({"name": "temp", "expires_at": expires.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap();
    let (status, _) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), key)
        .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), key)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A time in the past is refused at creation, with what to do.
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/keys"),
            ADMIN_KEY,
            json!({"expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn admin_keys_are_created_listed_and_revoked_but_never_the_last_one() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post("/v1/admin/keys", ADMIN_KEY, json!({"name": "ops laptop"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let new_key = created["key"].as_str().unwrap().to_owned();
    let new_id = created["id"].as_str().unwrap().to_owned();
    let (status, list) = app.get("/v1/admin/keys", &new_key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    assert!(!list.to_string().contains(ADMIN_KEY));
    // A tenant key may not touch admin keys.
    let (_, tenant_key) = app.tenant("nosy").await;
    let (status, _) = app.get("/v1/admin/keys", &tenant_key).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Revoke the configured one with the new one; then the new one is the last.
    let configured = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] != new_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/keys/{configured}"),
            &new_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get("/v1/tenants", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/keys/{new_id}"),
            &new_key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn a_key_revoked_on_one_node_is_refused_on_another() {
    if crate::BACKEND != crate::common::Backend::Postgres {
        // One process owns a SQLite database: there is no second node.
        return;
    }
    let first = TestApp::spawn().await;
    let shared = TestDatabase {
        url: first.db.url.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    let second = TestApp::spawn_on(shared, |_| {}).await;
    let (tenant, key) = first.tenant("twonodes").await;
    let path = format!("/v1/tenants/{tenant}/subscriptions");
    let (status, _) = second.get(&path, &key).await;
    assert_eq!(status, StatusCode::OK, "the second node knows the key");
    let (_, list) = first
        .get(&format!("/v1/tenants/{tenant}/keys"), ADMIN_KEY)
        .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = first
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/keys/{id}"),
            ADMIN_KEY,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Within the directory TTL (1 s by default; the NOTIFY usually makes it at once).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let (status, _) = second.get(&path, &key).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second node still accepts a revoked key"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_guessable_admin_key_stops_startup_with_what_to_do() {
    let db = TestDatabase::new().await;
    let output = tokio::process::Command::new(crate::common::krog_binary())
        .arg("serve")
        .current_dir(db.dir.path())
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", &db.url)
        .env("KROG_ADMIN_KEY", "krog_admin_dev_key")
        .env("KROG_SECRET_KEY", crate::common::TEST_SECRET_KEY)
        .env_remove("KROG_ALLOW_WEAK_ADMIN_KEY")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("too easy to guess") && stderr.contains("openssl rand"),
        "{stderr}"
    );
}
