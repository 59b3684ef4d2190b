//! The harness of the black-box tests: a real krog on port 0 with a fresh database, a real
//! receiver on port 0 that records what arrives and answers as a test scripts it, and an
//! HTTP client speaking to both as users do.

pub mod console;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// A random-looking admin key: krog refuses guessable ones.
pub const ADMIN_KEY: &str = "krog_5c1f0e9a7b3d28c4e6f1a0b9d7c3e5f2a8b4d6c0e1f3a5b7d9c2e4f6a8b0c1d3";

/// The master key of tests on PostgreSQL, where krog makes none (on SQLite it makes a key file
/// next to the database).
pub const TEST_SECRET_KEY: &str =
    "6b726f672074657374206d6173746572206b6579202d206e6f74207365637265";

/// The master key settings krog needs on the engine of `database_url`.
pub fn secret_key_env(database_url: &str) -> Vec<(&'static str, &'static str)> {
    if database_url.starts_with("postgres") {
        vec![("KROG_SECRET_KEY", TEST_SECRET_KEY)]
    } else {
        vec![]
    }
}

/// Which engine a run of the suite uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database for one test: a SQLite file in a temp dir, or a new PostgreSQL database
/// on the server `KROG_TEST_DATABASE_URL` names.
pub struct TestDatabase {
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestDatabase {
    pub async fn new() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match crate::BACKEND {
            Backend::Sqlite => format!("sqlite:{}", dir.path().join("krog.db").display()),
            Backend::Postgres => {
                let base = std::env::var("KROG_TEST_DATABASE_URL")
                    .expect("KROG_TEST_DATABASE_URL is set for the PostgreSQL suite");
                fresh_postgres(&base).await
            }
        };
        TestDatabase { url, dir }
    }
}

async fn fresh_postgres(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("krog_test_{}", uuid_like());
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to KROG_TEST_DATABASE_URL");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    format!("{prefix}/{name}")
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The configuration tests run with: loopback allowed, retries in milliseconds.
/// The Rust built-ins: what the tests of other things install, so that the Python `reminder`
/// (seconds to compile in a test build) is compiled only by the tests about it.
pub const RUST_BUILTINS: &str = "slack,sheets,filter,redact";

pub fn test_config(database_url: &str, cache_dir: &std::path::Path) -> krog::Config {
    krog::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        admin_key: Some(ADMIN_KEY.into()),
        retry_schedule: vec![
            Duration::from_millis(50),
            Duration::from_millis(100),
            Duration::from_millis(150),
        ],
        allow_private_destinations: true,
        allow_http: true,
        delivery_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(200),
        claim_lease: Duration::from_secs(5),
        cache_dir: Some(cache_dir.to_owned()),
        builtin_modules: Some(RUST_BUILTINS.split(',').map(String::from).collect()),
        sqlite_synchronous: "NORMAL".into(),
        secret_key: database_url
            .starts_with("postgres")
            .then(|| TEST_SECRET_KEY.to_owned().into()),
        ..krog::Config::default()
    }
}

/// A running krog and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut krog::Config)) -> TestApp {
        Self::spawn_on(TestDatabase::new().await, adjust).await
    }

    /// Starts krog on a database the test has already prepared (krog migrates it further).
    pub async fn spawn_on(db: TestDatabase, adjust: impl FnOnce(&mut krog::Config)) -> TestApp {
        // Compiled artifacts are content addressed, so every test may share one cache; that
        // spares each test compiling the built-in formatters again.
        let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/test-artifact-cache");
        let mut config = test_config(&db.url, &cache);
        // One MAC key for every in-process test, so that they can share one cache.
        config.artifact_cache_key = Some([7; 32]);
        adjust(&mut config);
        let app = krog::Application::build(config).await.expect("krog builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            db,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Stops the app gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("app task").expect("app stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches krog");
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, key, Some(body))
            .await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, key, None).await
    }

    /// `PUT`s a module's bytes (`application/wasm`) to `path`; the status and the JSON answer.
    pub async fn upload(&self, path: &str, key: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .client
            .put(self.url(path))
            .bearer_auth(key)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
            .await
            .unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET /metrics`, the Prometheus text (no key needed).
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// Creates a tenant and returns (tenant id, tenant key).
    pub async fn tenant(&self, id: &str) -> (String, String) {
        let (status, tenant) = self
            .post(
                "/v1/tenants",
                ADMIN_KEY,
                json!({"id": id, "name": format!("Klinik {id}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{tenant}");
        let (status, key) = self
            .post(&format!("/v1/tenants/{id}/keys"), ADMIN_KEY, json!({}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        (id.to_owned(), key["key"].as_str().unwrap().to_owned())
    }

    /// Creates a subscription and returns its JSON (with `secret`).
    pub async fn subscribe(&self, tenant: &str, key: &str, body: Value) -> Value {
        let (status, subscription) = self
            .post(&format!("/v1/tenants/{tenant}/subscriptions"), key, body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{subscription}");
        subscription
    }

    /// Posts an event and returns the 202 body.
    pub async fn ingest(&self, tenant: &str, key: &str, event: Value) -> Value {
        let (status, accepted) = self
            .post(&format!("/v1/tenants/{tenant}/events"), key, event)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        accepted
    }

    /// Polls the delivery log until `done` holds for the deliveries of `event_id`.
    pub async fn wait_for_deliveries(
        &self,
        tenant: &str,
        key: &str,
        event_id: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, page) = self
                .get(
                    &format!("/v1/tenants/{tenant}/deliveries?event_id={event_id}"),
                    key,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let list = page["data"].as_array().cloned().unwrap_or_default();
            if done(&list) {
                return list;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("deliveries of {event_id} did not settle: {list:#?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: std::time::Instant,
    /// The status the receiver answered with (a scripted one, else 200), so that a test can
    /// tell a retry after a refusal from a second delivery of something already taken.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A scripted answer: status and extra headers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: vec![],
        }
    }
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Answer>>,
    delay: Mutex<Duration>,
    arrived: Notify,
}

/// A real HTTP receiver on port 0. Answers 200 unless scripted otherwise.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .fallback(record)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, inner }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next answers, in order; after them, 200.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.script.lock().unwrap().extend(answers);
    }

    /// Forgets the answers still scripted: 200 from now on (an endpoint that recovered).
    pub fn recover(&self) {
        self.inner.script.lock().unwrap().clear();
    }

    /// Answers only after `delay` from now on (a slow endpoint).
    pub fn set_delay(&self, delay: Duration) {
        *self.inner.delay.lock().unwrap() = delay;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let notified = self.inner.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} requests at the receiver, got {}",
                    self.received().len()
                );
            }
        }
    }
}

async fn record(
    State(inner): State<Arc<Inner>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let answer = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::status(200));
    inner.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
        at: std::time::Instant::now(),
        status: answer.status,
    });
    inner.arrived.notify_waiters();
    let delay = *inner.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut response_headers = HeaderMap::new();
    for (name, value) in answer.headers {
        response_headers.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    (
        StatusCode::from_u16(answer.status).unwrap(),
        response_headers,
        "receiver says hi",
    )
}

/// Checks a delivery's signature with the independent `standardwebhooks` crate.
pub fn verify(secret: &str, received: &Received) -> Result<(), String> {
    let webhook = standardwebhooks::Webhook::new(secret).map_err(|e| format!("{e:?}"))?;
    webhook
        .verify(&received.body, &received.headers)
        .map_err(|e| format!("{e:?}"))
}

/// A fixture event as JSON.
pub fn fixture(name: &str) -> Value {
    let text = match name {
        "created" => include_str!("../../../fixtures/booking-created.json"),
        "created-online" => include_str!("../../../fixtures/booking-created-online.json"),
        "updated" => include_str!("../../../fixtures/booking-updated.json"),
        "deleted" => include_str!("../../../fixtures/booking-deleted.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

/// A fixture with a new unique id.
pub fn fresh(name: &str) -> Value {
    let mut event = fixture(name);
    event["id"] = json!(format!("evt_{}", uuid_like()));
    event
}

/// The krog program under test (`src/bin/krog-under-test.rs`, the same `krog::cli::main`).
pub fn krog_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_krog-under-test"))
}

/// Starts `krog serve` on port 0 and returns it with its base URL, read from its log.
pub async fn start_krog(
    dir: &std::path::Path,
    database_url: &str,
    env: &[(&str, &str)],
) -> (Child, String) {
    let mut child = Command::new(krog_binary())
        .arg("serve")
        .current_dir(dir)
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", database_url)
        // Its own cache: artifacts carry a MAC under the database's key, so processes on
        // different databases cannot share one.
        .env("KROG_CACHE_DIR", dir.join("krog-cache"))
        .env("KROG_BUILTIN_MODULES", crate::common::RUST_BUILTINS)
        .env("KROG_ADMIN_KEY", ADMIN_KEY)
        .env("KROG_ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("KROG_ALLOW_HTTP", "true")
        .env("KROG_RETRY_SCHEDULE", "50ms,100ms,200ms,500ms,1s,1s")
        .env("KROG_SQLITE_SYNCHRONOUS", "NORMAL")
        .env("RUST_LOG", "info")
        .envs(secret_key_env(database_url))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("krog starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Wide: the first start compiles the built-in modules, on a machine CI may share.
    let address = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line
                .split("address=")
                .nth(1)
                .filter(|_| line.contains("listening"))
            {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("krog exited before listening");
    })
    .await
    .expect("krog listens within three minutes");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{address}"))
}

/// Builds the plugin crate `tests/plugins/<name>` exactly as its author would (its own crate,
/// `cargo build --release --target wasm32-wasip2`), and returns the component's bytes.
pub async fn build_stranger(name: &'static str) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("plugins")
            .join(name);
        let target_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/stranger");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = std::process::Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(crate_dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building the {name} plugin failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let file = format!("wasm32-wasip2/release/{}.wasm", name.replace('-', "_"));
        std::fs::read(target_dir.join(file)).expect("the component exists")
    })
    .await
    .unwrap()
}

/// Starts `krog serve` like [`start_krog`], keeping every line of its log (stderr) in the
/// returned buffer.
pub async fn start_krog_logged(
    dir: &std::path::Path,
    database_url: &str,
    env: &[(&str, &str)],
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut child = Command::new(krog_binary())
        .arg("serve")
        .current_dir(dir)
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", database_url)
        .env("KROG_CACHE_DIR", dir.join("krog-cache"))
        // The Python `reminder` compiles for minutes in a debug build on a busy machine.
        .env("KROG_BUILTIN_MODULES", RUST_BUILTINS)
        .env("KROG_ADMIN_KEY", ADMIN_KEY)
        .env("KROG_ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("KROG_ALLOW_HTTP", "true")
        .env("KROG_SQLITE_SYNCHRONOUS", "NORMAL")
        .env("RUST_LOG", "info")
        .envs(secret_key_env(database_url))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("krog starts");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (address_tx, address_rx) = tokio::sync::oneshot::channel();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let kept = log.clone();
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
            kept.lock().unwrap().push(line);
        }
    });
    // Wide: the first start compiles the built-in modules, on a machine CI may share.
    let address = tokio::time::timeout(Duration::from_secs(180), address_rx)
        .await
        .expect("krog listens within three minutes")
        .expect("krog logs its address");
    (child, format!("http://{address}"), log)
}
