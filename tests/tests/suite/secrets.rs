//! Personal data at rest: signing secrets are stored encrypted under the master key (a wrong
//! key stops startup; a rotation of the key under load keeps every delivery verifiable),
//! expired secrets and unused module bytes are deleted, and the files krog makes are private.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{
    ADMIN_KEY, Backend, Receiver, TestApp, TestDatabase, fresh, krog_binary, secret_key_env, verify,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const KEY_A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const KEY_B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const KEY_C: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";

/// The same database again, for a restart (the first `TestDatabase` keeps owning its dir).
fn again(db: &TestDatabase) -> TestDatabase {
    TestDatabase {
        url: db.url.clone(),
        dir: tempfile::tempdir().unwrap(),
    }
}

async fn pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

/// Every stored secret: (subscription id, stored value).
async fn stored_secrets(url: &str) -> Vec<(String, String)> {
    let pool = pool(url).await;
    let rows = sqlx::query_as("SELECT subscription_id, secret FROM subscription_secrets")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows
}

/// The secret's distinctive part (what follows `whsec_`), as it would appear anywhere.
fn body(secret: &str) -> &str {
    secret.strip_prefix("whsec_").unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The SQLite database file and its WAL, as bytes (a missing WAL is empty).
fn sqlite_bytes(db: &TestDatabase) -> Vec<u8> {
    let file = db.dir.path().join("krog.db");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend(std::fs::read(db.dir.path().join("krog.db-wal")).unwrap_or_default());
    bytes
}

fn assert_nowhere_in_sqlite_files(db: &TestDatabase, secrets: &[String], when: &str) {
    let bytes = sqlite_bytes(db);
    for secret in secrets {
        assert!(
            !contains(&bytes, body(secret)),
            "{when}: the secret {secret} is in the database file or its WAL"
        );
    }
}

async fn subscribe(app: &TestApp, tenant: &str, key: &str, url: String) -> (String, String) {
    let subscription = app
        .subscribe(
            tenant,
            key,
            json!({"url": url, "event_types": ["booking.created"]}),
        )
        .await;
    (
        subscription["id"].as_str().unwrap().to_owned(),
        subscription["secret"].as_str().unwrap().to_owned(),
    )
}

async fn rotate(app: &TestApp, tenant: &str, key: &str, id: &str) -> String {
    let (status, rotated) = app
        .post(
            &format!("/v1/tenants/{tenant}/subscriptions/{id}/rotate-secret"),
            key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    rotated["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_database_holds_no_signing_secret_in_the_clear() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (id, first) = subscribe(&app, &tenant, &key, receiver.url("/hook")).await;
    let second = rotate(&app, &tenant, &key, &id).await;
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;
    let got = receiver.wait_for(1).await;
    verify(&first, &got[0]).expect("the delivery verifies with the first secret");
    verify(&second, &got[0]).expect("the delivery verifies with the rotated secret");

    let rows = stored_secrets(&app.db.url).await;
    assert_eq!(rows.len(), 2);
    for (subscription, stored) in &rows {
        assert_eq!(subscription, &id);
        assert!(stored.starts_with("v1:"), "stored as {stored}");
        for secret in [&first, &second] {
            assert!(!stored.contains(body(secret)), "{stored} holds {secret}");
        }
    }
    if crate::BACKEND == Backend::Sqlite {
        let secrets = [first.clone(), second.clone()];
        assert_nowhere_in_sqlite_files(&app.db, &secrets, "before a checkpoint");
        let pool = pool(&app.db.url).await;
        sqlx::query("PRAGMA wal_checkpoint(FULL)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        assert_nowhere_in_sqlite_files(&app.db, &secrets, "after a checkpoint");
    }
}

#[tokio::test]
async fn a_secret_stored_in_the_clear_before_encryption_is_encrypted_at_the_next_start() {
    let db = TestDatabase::new().await;
    let mut app = TestApp::spawn_on(again(&db), |_| {}).await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (id, secret) = subscribe(&app, &tenant, &key, receiver.url("/hook")).await;
    app.stop().await;
    // As a database from before secrets were encrypted: the secret in the clear, no check value.
    let pool = pool(&db.url).await;
    sqlx::query("UPDATE subscription_secrets SET secret = $1")
        .bind(&secret)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM installation_settings WHERE name = 'secret_key_check'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let app = TestApp::spawn_on(again(&db), |_| {}).await;
    let rows = stored_secrets(&db.url).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].1.starts_with("v1:"), "still {}", rows[0].1);
    assert_eq!(rows[0].0, id);
    if crate::BACKEND == Backend::Sqlite {
        assert_nowhere_in_sqlite_files(&db, std::slice::from_ref(&secret), "after the start");
    }
    app.ingest(&tenant, &key, fresh("created")).await;
    let got = receiver.wait_for(1).await;
    verify(&secret, &got[0]).expect("the delivery verifies with the secret from before");
}

/// Runs the `krog` binary with `args` and the test environment for `db` plus `env`, to its
/// end (a minute at most).
async fn run_krog(db: &TestDatabase, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let child = tokio::process::Command::new(krog_binary())
        .args(args)
        .current_dir(db.dir.path())
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", &db.url)
        .env(
            "KROG_CACHE_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifact-cache"),
        )
        .env("KROG_BUILTIN_MODULES", crate::common::RUST_BUILTINS)
        .env("KROG_ADMIN_KEY", ADMIN_KEY)
        .env("RUST_LOG", "info")
        .env_remove("KROG_SECRET_KEY")
        .env_remove("KROG_SECRET_KEY_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("krog runs");
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("krog ends within a minute")
        .unwrap()
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_wrong_master_key_stops_startup_with_a_message_that_says_so() {
    let db = TestDatabase::new().await;
    let mut app = TestApp::spawn_on(again(&db), |config| {
        config.secret_key = Some(KEY_A.to_owned().into());
    })
    .await;
    let (tenant, key) = app.tenant("klinik").await;
    subscribe(&app, &tenant, &key, "http://127.0.0.1:9/hook".into()).await;
    app.stop().await;

    let out = run_krog(&db, &["serve"], &[("KROG_SECRET_KEY", KEY_C)]).await;
    assert!(!out.status.success(), "krog started with a wrong key");
    let said = text(&out);
    assert!(said.contains("wrong master key"), "{said}");
    assert!(said.contains("KROG_SECRET_KEY"), "{said}");
    assert!(
        !said.contains(KEY_C) && !said.contains(KEY_A),
        "a key is in the message: {said}"
    );
}

#[tokio::test]
async fn a_missing_master_key_is_made_on_a_first_sqlite_start_and_refused_otherwise() {
    let db = TestDatabase::new().await;
    if crate::BACKEND == Backend::Postgres {
        // Several nodes share one PostgreSQL database: krog must not invent a key for one.
        let out = run_krog(&db, &["serve"], &[]).await;
        assert!(!out.status.success(), "krog started without a key");
        let said = text(&out);
        assert!(said.contains("KROG_SECRET_KEY"), "{said}");
        assert!(said.contains("KROG_SECRET_KEY_FILE"), "{said}");
        return;
    }
    let mut app = TestApp::spawn_on(again(&db), |_| {}).await;
    let (tenant, key) = app.tenant("klinik").await;
    subscribe(&app, &tenant, &key, "http://127.0.0.1:9/hook".into()).await;
    app.stop().await;
    let key_file = db.dir.path().join("krog.key");
    let key_text = std::fs::read_to_string(&key_file).expect("a key file next to the database");
    assert_eq!(key_text.trim().len(), 64, "{key_text}");
    std::fs::rename(&key_file, db.dir.path().join("krog.key.elsewhere")).unwrap();
    let out = run_krog(&db, &["serve"], &[]).await;
    assert!(!out.status.success(), "krog started without its key file");
    let said = text(&out);
    assert!(
        said.contains("krog.key") && said.contains("does not exist"),
        "{said}"
    );
    assert!(
        !key_file.exists(),
        "krog made a new key for a database that has one"
    );
}

#[tokio::test]
async fn the_master_key_rotates_under_load_and_every_delivery_verifies() {
    let db = TestDatabase::new().await;
    let receiver = Receiver::start().await;
    let mut app = TestApp::spawn_on(again(&db), |config| {
        config.secret_key = Some(KEY_A.to_owned().into());
    })
    .await;
    let (tenant, key) = app.tenant("klinik").await;
    let mut secrets = Vec::new();
    for i in 0..4 {
        secrets.push(subscribe(&app, &tenant, &key, receiver.url(&format!("/s{i}"))).await);
    }
    app.stop().await;

    // Every node gets the new key, with the old one as its previous key; then the rows move.
    let app = Arc::new(
        TestApp::spawn_on(again(&db), |config| {
            config.secret_key = Some(KEY_B.to_owned().into());
            config.secret_key_previous = Some(KEY_A.to_owned().into());
        })
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (app, stop, tenant, key) = (app.clone(), stop.clone(), tenant.clone(), key.clone());
        tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                app.ingest(&tenant, &key, fresh("created")).await;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sent
        })
    };
    let rotation = run_krog(
        &db,
        &["secrets", "rotate-master-key"],
        &[("KROG_SECRET_KEY", KEY_A), ("KROG_NEW_SECRET_KEY", KEY_B)],
    );
    // Meanwhile a subscription's secret rotates and a new subscription comes.
    let (rotation, rotated, added) = tokio::join!(
        rotation,
        rotate(&app, &tenant, &key, &secrets[0].0),
        subscribe(&app, &tenant, &key, receiver.url("/s4")),
    );
    assert!(rotation.status.success(), "{}", text(&rotation));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let sent = load.await.unwrap();
    assert!(sent > 0);

    let rows = stored_secrets(&db.url).await;
    let new_id = {
        let pool = pool(&db.url).await;
        let (check,): (String,) = sqlx::query_as(
            "SELECT value FROM installation_settings WHERE name = 'secret_key_check'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        check.split(':').nth(1).unwrap().to_owned()
    };
    assert!(text(&rotation).contains(&new_id), "{}", text(&rotation));
    for (subscription, stored) in &rows {
        assert!(
            stored.starts_with(&format!("v1:{new_id}:")),
            "a secret of {subscription} is not under the new key: {stored}"
        );
    }

    // Every delivery, to the four first subscriptions (each gets every event), verifies.
    let expected = sent * 4;
    let got = receiver.wait_for(expected).await;
    let secret_of = |path: &str| -> Vec<String> {
        let i: usize = path.trim_start_matches("/s").parse().unwrap();
        match i {
            0 => vec![secrets[0].1.clone(), rotated.clone()],
            4 => vec![added.1.clone()],
            i => vec![secrets[i].1.clone()],
        }
    };
    for received in &got {
        let candidates = secret_of(&received.path);
        assert!(
            candidates.iter().any(|s| verify(s, received).is_ok()),
            "a delivery to {} does not verify: {}",
            received.path,
            received.header("webhook-signature")
        );
    }

    // Later starts need only the new key; the old one alone is refused.
    let mut app = Arc::try_unwrap(app).ok().expect("the load is done");
    app.stop().await;
    let out = run_krog(&db, &["serve"], &[("KROG_SECRET_KEY", KEY_A)]).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("wrong master key"), "{}", text(&out));
    let app = TestApp::spawn_on(again(&db), |config| {
        config.secret_key = Some(KEY_B.to_owned().into());
    })
    .await;
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;
    let id = event["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let of_event = loop {
        let of_event: Vec<_> = receiver
            .received()
            .into_iter()
            .filter(|r| r.header("webhook-id") == id)
            .collect();
        if of_event.len() >= 5 {
            break of_event;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 5 deliveries after the restart",
            of_event.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for received in &of_event {
        let candidates = secret_of(&received.path);
        assert!(
            candidates.iter().any(|s| verify(s, received).is_ok()),
            "after the rotation a delivery to {} does not verify",
            received.path
        );
    }
}

#[tokio::test]
async fn expired_secrets_are_gone_after_their_overlap() {
    let app = TestApp::spawn_with(|config| {
        config.secret_overlap = Duration::from_secs(1);
    })
    .await;
    let (tenant, key) = app.tenant("klinik").await;
    let (id, first) = subscribe(&app, &tenant, &key, "http://127.0.0.1:9/hook".into()).await;
    rotate(&app, &tenant, &key, &id).await;
    assert_eq!(stored_secrets(&app.db.url).await.len(), 2);
    // No further rotation: the background sweep deletes it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = stored_secrets(&app.db.url).await;
        if rows.len() == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired secret {first} is still stored"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A component with a custom section appended: the same plugin, other bytes (so a blob of its
/// own, not shared with the built-in catalog).
fn renamed_bytes(wasm: &[u8], tag: &str) -> Vec<u8> {
    let name = b"krog-test";
    let payload = tag.as_bytes();
    let size = 1 + name.len() + payload.len();
    assert!(size < 128, "one-byte LEB128 sizes");
    let mut bytes = wasm.to_vec();
    bytes.push(0); // custom section
    bytes.push(size as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

async fn blob_count(url: &str, sha256: &str) -> i64 {
    let pool = pool(url).await;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM module_blobs WHERE sha256 = $1")
        .bind(sha256)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count
}

#[tokio::test]
async fn module_bytes_are_deleted_with_the_last_version_that_uses_them() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let catalog = app
        .client
        .get(app.url("/v1/modules/filter/versions/1/wasm"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(catalog.status(), StatusCode::OK);
    let wasm = renamed_bytes(&catalog.bytes().await.unwrap(), &format!("{tenant}-1"));
    let mut sha256 = String::new();
    for name in ["first", "second"] {
        let response = app
            .client
            .put(app.url(&format!("/v1/tenants/{tenant}/modules/{name}")))
            .bearer_auth(&key)
            .header("content-type", "application/wasm")
            .body(wasm.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let version: Value = response.json().await.unwrap();
        sha256 = version["sha256"].as_str().unwrap().to_owned();
    }
    assert_eq!(
        blob_count(&app.db.url, &sha256).await,
        1,
        "one copy of the bytes"
    );

    let delete = |name: &str| {
        app.client
            .delete(app.url(&format!("/v1/tenants/{tenant}/modules/{name}/versions/1")))
            .bearer_auth(&key)
            .send()
    };
    assert_eq!(
        delete("first").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        blob_count(&app.db.url, &sha256).await,
        1,
        "the bytes are still used by the second module"
    );
    assert_eq!(
        delete("second").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        blob_count(&app.db.url, &sha256).await,
        0,
        "unused bytes stay stored"
    );
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `krog serve` under umask 000, in `dir`; returns it once it listens, with its base URL.
async fn serve_under_umask_000(
    dir: &Path,
    db: &TestDatabase,
    cache: &Path,
) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" serve")
        .arg(krog_binary())
        .current_dir(dir)
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", &db.url)
        .env("KROG_CACHE_DIR", cache)
        .env("KROG_BUILTIN_MODULES", crate::common::RUST_BUILTINS)
        .env("KROG_ADMIN_KEY", ADMIN_KEY)
        .env("KROG_ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("KROG_ALLOW_HTTP", "true")
        .env("RUST_LOG", "info")
        .envs(secret_key_env(&db.url))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("krog starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(120), async {
        let mut log = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line
                .split("address=")
                .nth(1)
                .filter(|_| line.contains("listening"))
            {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
            log.push(line);
        }
        panic!("krog exited before listening:\n{}", log.join("\n"));
    })
    .await
    .expect("krog listens within two minutes");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{address}"))
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_when_krog_runs_under_umask_000() {
    let db = TestDatabase::new().await;
    let cache = db.dir.path().join("cache/krog-cache");
    let (mut child, base) = serve_under_umask_000(db.dir.path(), &db, &cache).await;
    // A write, so that the WAL has something in it.
    let response = reqwest::Client::new()
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"id": "klinik", "name": "Klinik"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(mode(&cache), 0o700, "the cache dir");
    for artifact in std::fs::read_dir(&cache).unwrap() {
        let path = artifact.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{}", path.display());
    }
    if crate::BACKEND == Backend::Sqlite {
        for name in ["krog.db", "krog.db-wal", "krog.db-shm", "krog.key"] {
            assert_eq!(mode(&db.dir.path().join(name)), 0o600, "{name}");
        }
    }
    let _ = child.kill().await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_database_readable_by_others_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    if crate::BACKEND != Backend::Sqlite {
        return; // no database file of krog's on PostgreSQL
    }
    let db = TestDatabase::new().await;
    let file = db.dir.path().join("krog.db");
    std::fs::write(&file, b"").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = TestApp::spawn_on(again(&db), |_| {}).await;
    app.tenant("klinik").await;
    for name in ["krog.db", "krog.db-wal", "krog.db-shm", "krog.key"] {
        assert_eq!(mode(&db.dir.path().join(name)), 0o600, "{name}");
    }
}
