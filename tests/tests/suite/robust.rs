//! Nothing one tenant sends can hurt krog or another tenant: hostile config schemas, oversized
//! bodies, receivers that answer with NUL bytes or absurd `Retry-After`s, slow endpoints with
//! backlogs, slow clients, and quotas.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::{ADMIN_KEY, Answer, Receiver, TestApp, fresh};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Builds `tests/plugins/schema-bomb` with `schema` as its config schema.
async fn schema_bomb(schema: Value) -> Vec<u8> {
    // One build at a time: they share a target dir, and each rebuilds the crate.
    static BUILDS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = BUILDS.lock().await;
    tokio::task::spawn_blocking(move || {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/schema-bomb");
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
            .env("KROG_TEST_SCHEMA", schema.to_string())
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building the schema-bomb plugin failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(target_dir.join("wasm32-wasip2/release/schema_bomb.wasm"))
            .expect("the component exists")
    })
    .await
    .unwrap()
}

async fn upload(app: &TestApp, path: &str, key: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    app.upload(path, key, bytes).await
}

/// The slowest of `n` reads of another tenant's subscriptions, made while `busy` runs.
async fn slowest_read_while<F: Future>(
    app: &TestApp,
    tenant: &str,
    key: &str,
    busy: F,
) -> (F::Output, Duration) {
    let path = format!("/v1/tenants/{tenant}/subscriptions");
    let reads = async {
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            let started = Instant::now();
            let (status, _) = app.get(&path, key).await;
            assert_eq!(status, StatusCode::OK);
            slowest = slowest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        slowest
    };
    tokio::join!(busy, reads)
}

#[tokio::test]
async fn config_schemas_that_cannot_be_checked_in_bounded_time_are_refused_at_upload() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("bomber").await;
    let (other, other_key) = app.tenant("bystander").await;
    let mut defs = serde_json::Map::new();
    defs.insert("d0".into(), json!({"type": "string"}));
    for i in 1..40 {
        let prev = format!("#/$defs/d{}", i - 1);
        defs.insert(
            format!("d{i}"),
            json!({"anyOf": [{"$ref": prev}, {"$ref": prev}]}),
        );
    }
    let bombs = [
        ("cycle", json!({"allOf": [{"$ref": "#"}]})),
        ("expands", json!({"$defs": defs, "$ref": "#/$defs/d39"})),
        (
            "not usable",
            json!({"properties": {"x": {"pattern": "(?<=a)b"}}}),
        ),
    ];
    for (why, schema) in bombs {
        let wasm = schema_bomb(schema).await;
        let path = format!("/v1/tenants/{tenant}/modules/bomb");
        let ((status, body), slowest) =
            slowest_read_while(&app, &other, &other_key, upload(&app, &path, &key, wasm)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {body}");
        assert!(
            body["message"].as_str().unwrap_or("").contains(why),
            "{why}: {body}"
        );
        // Wide: the bystander's reads take milliseconds; a runaway validator held them for
        // seconds, or took the process down.
        assert!(slowest < Duration::from_secs(2), "{why}: {slowest:?}");
    }
}

#[tokio::test]
async fn a_stored_schema_with_a_cycle_or_a_backtracking_pattern_is_answered_4xx_at_once() {
    // Modules stored before schemas were vetted: the schema is put straight into the
    // database, as an older krog would have accepted it.
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("legacy").await;
    let (other, other_key) = app.tenant("neighbour").await;
    let wasm = schema_bomb(json!({"type": "object"})).await;
    let (status, body) = upload(
        &app,
        &format!("/v1/tenants/{tenant}/modules/old"),
        &key,
        wasm,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hostile = [
        (json!({"allOf": [{"$ref": "#"}]}), json!({})),
        (
            json!({"properties": {"x": {"type": "string", "pattern": "^(a|a)*$"}}}),
            json!({"x": format!("{}!", "a".repeat(40))}),
        ),
    ];
    for (schema, config) in hostile {
        let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
        let info =
            json!({"name": "old", "version": "0", "description": "", "config_schema": schema});
        sqlx::query("UPDATE module_versions SET info = $1 WHERE owner = $2 AND name = 'old'")
            .bind(info.to_string())
            .bind(&tenant)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let path = format!("/v1/tenants/{tenant}/subscriptions");
        let create = app.post(
            &path,
            &key,
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["booking.created"],
                   "transform": {"module": "tenant:old", "config": config}}),
        );
        let started = Instant::now();
        let ((status, body), slowest) = slowest_read_while(&app, &other, &other_key, create).await;
        assert!(status.is_client_error(), "{status} {body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    }
}

/// Sends a request with a `content-length` of `claimed` bytes and as much of it as the server
/// takes (up to 4 MiB), and returns the status line and the body of the answer.
async fn send_huge(app: &TestApp, path: &str, key: &str, claimed: usize) -> (u16, Value) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {claimed}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..64 {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b.trim()).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test]
async fn a_dry_run_of_300_mb_is_refused_before_it_is_read() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("dryrunner").await;
    let before = resident_bytes();
    for path in [
        "/v1/modules/slack/run".to_owned(),
        format!("/v1/tenants/{tenant}/subscriptions"),
    ] {
        let (status, body) = send_huge(&app, &path, &key, 300 << 20).await;
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(body["code"], "payload_too_large", "{path}: {body}");
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 100 << 20, "resident memory grew by {grown} bytes");
}

#[tokio::test]
async fn error_answers_are_json_even_where_axum_answers_by_itself() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("errors").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["booking.created"]}),
        )
        .await;
    let id = sub["id"].as_str().unwrap();
    // A test send over the body limit.
    let (status, body) = send_huge(
        &app,
        &format!("/v1/tenants/{tenant}/subscriptions/{id}/test"),
        &key,
        2 << 20,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    // A method the route does not take.
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/v1/tenants/{tenant}/events"),
            &key,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed", "{body}");
    // A module over the module size limit is 413, not 422.
    // (The limit must still admit the built-in formatters, about 1.3 MB.)
    let small = TestApp::spawn_with(|c| c.limits.max_module_bytes = 3 << 20).await;
    let (t, k) = small.tenant("small").await;
    let (status, body) = upload(
        &small,
        &format!("/v1/tenants/{t}/modules/big"),
        &k,
        vec![0; 4 << 20],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "module_too_large", "{body}");
}

/// A receiver whose every answer carries NUL bytes, with the status given.
async fn nul_receiver(status: u16) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                b"ok\0\0then a NUL\0".to_vec(),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/nul",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

#[tokio::test]
async fn a_receiver_answering_nul_bytes_is_recorded_once_per_attempt_and_harms_no_one() {
    use std::sync::atomic::Ordering;
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("nul").await;
    let (other, other_key) = app.tenant("clean").await;
    let receiver = Receiver::start().await;
    app.subscribe(
        &other,
        &other_key,
        json!({"url": receiver.url("/clean"), "event_types": ["booking.created"]}),
    )
    .await;
    let (ok_url, ok_hits) = nul_receiver(200).await;
    let (failing_url, failing_hits) = nul_receiver(500).await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": ok_url, "event_types": ["booking.created"]}),
    )
    .await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": failing_url, "event_types": ["booking.created"]}),
    )
    .await;
    let event = app.ingest(&tenant, &key, fresh("created")).await;
    // The other tenant's events share group commits with the NUL answers' records.
    for _ in 0..20 {
        app.ingest(&other, &other_key, fresh("created")).await;
    }
    let event_id = event["id"].as_str().unwrap();
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, event_id, |list| {
            list.len() == 2 && list.iter().all(|d| d["status"] != "pending")
        })
        .await;
    receiver.wait_for(20).await;
    for delivery in &deliveries {
        let (_, full) = app
            .get(
                &format!(
                    "/v1/tenants/{tenant}/deliveries/{}",
                    delivery["id"].as_str().unwrap()
                ),
                &key,
            )
            .await;
        let attempts = full["attempts"].as_array().unwrap();
        let response = attempts[0]["response"].as_str().unwrap();
        assert!(response.starts_with("ok\u{FFFD}\u{FFFD}"), "{full}");
        if full["status"] == "succeeded" {
            assert_eq!(attempts.len(), 1, "{full}");
        } else {
            // The schedule's 3 retries: 4 attempts, each recorded once.
            assert_eq!(full["status"], "failed", "{full}");
            assert_eq!(attempts.len(), 4, "{full}");
        }
    }
    // No re-sending in a loop: what was recorded is all that was sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ok_hits.load(Ordering::SeqCst), 1);
    assert_eq!(failing_hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn text_with_nul_in_names_and_descriptions_is_refused_with_a_4xx() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .post(
            "/v1/tenants",
            ADMIN_KEY,
            json!({"id": "nulname", "name": "Klinik\u{0}"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (tenant, key) = app.tenant("nuldesc").await;
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/subscriptions"),
            &key,
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["booking.created"], "description": "a\u{0}b"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// Ingest latency and time to arrival of `n` events of `tenant`, one at a time.
async fn latencies(
    app: &TestApp,
    tenant: &str,
    key: &str,
    receiver: &Receiver,
    n: usize,
) -> (Duration, Duration) {
    let mut ingest = Vec::new();
    let mut arrival = Vec::new();
    for _ in 0..n {
        let already = receiver.received().len();
        let started = Instant::now();
        app.ingest(tenant, key, fresh("created")).await;
        ingest.push(started.elapsed());
        receiver.wait_for(already + 1).await;
        arrival.push(started.elapsed());
    }
    (p99(ingest), p99(arrival))
}

#[tokio::test]
async fn a_slow_endpoint_with_a_backlog_does_not_slow_another_tenant() {
    let app = TestApp::spawn().await;
    let (slow, slow_key) = app.tenant("slowpoke").await;
    let (fast, fast_key) = app.tenant("speedy").await;
    let slow_receiver = Receiver::start().await;
    slow_receiver.set_delay(Duration::from_secs(3));
    let fast_receiver = Receiver::start().await;
    app.subscribe(
        &slow,
        &slow_key,
        json!({"url": slow_receiver.url("/slow"), "event_types": ["booking.created"]}),
    )
    .await;
    app.subscribe(
        &fast,
        &fast_key,
        json!({"url": fast_receiver.url("/fast"), "event_types": ["booking.created"]}),
    )
    .await;
    let (ingest_before, arrival_before) =
        latencies(&app, &fast, &fast_key, &fast_receiver, 30).await;
    for _ in 0..200 {
        app.ingest(&slow, &slow_key, fresh("created")).await;
    }
    let (ingest_after, arrival_after) = latencies(&app, &fast, &fast_key, &fast_receiver, 30).await;
    // Within 2× of the baseline, plus 100 ms for a machine shared with other tests; before the
    // dispatcher was fair, the fast tenant's deliveries waited behind the slow one's seconds.
    let bound = |before: Duration| 2 * before + Duration::from_millis(100);
    assert!(
        ingest_after <= bound(ingest_before),
        "ingest p99 {ingest_before:?} -> {ingest_after:?}"
    );
    assert!(
        arrival_after <= bound(arrival_before),
        "delivery p99 {arrival_before:?} -> {arrival_after:?}"
    );
    // The slow tenant holds at most its subscription's share of workers.
    assert!(slow_receiver.received().len() <= 200);
}

#[tokio::test]
async fn a_backlog_that_waits_longer_than_the_lease_is_sent_once() {
    let app = TestApp::spawn_with(|c| {
        c.claim_lease = Duration::from_secs(1);
        c.workers = 2;
        c.poll_interval = Duration::from_millis(50);
    })
    .await;
    let (tenant, key) = app.tenant("backlog").await;
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(300));
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/once"), "event_types": ["booking.created"]}),
    )
    .await;
    for _ in 0..20 {
        app.ingest(&tenant, &key, fresh("created")).await;
    }
    // 20 deliveries two at a time, 300 ms each: the last waits about three leases.
    receiver.wait_for(20).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 20, "{} sent for 20 events", ids.len());
    assert_eq!(unique.len(), 20);
}

#[tokio::test]
async fn a_client_that_sends_its_headers_slowly_is_cut_off_and_does_not_hold_shutdown() {
    let mut app = TestApp::spawn_with(|c| {
        c.header_read_timeout = Duration::from_millis(500);
        c.shutdown_timeout = Duration::from_secs(2);
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"POST /v1/tenants HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the half-sent request was never cut off");
    // Another one that never finishes its headers stays open while krog shuts down.
    let mut lingering = tokio::net::TcpStream::connect(&address).await.unwrap();
    lingering
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(15), app.stop()).await;
    assert!(stopped.is_ok(), "shutdown waited for a slow client");
}

#[tokio::test]
async fn an_absurd_retry_after_is_capped_and_never_uses_up_the_attempts() {
    for header in ["99999999999", "18446744073709551615"] {
        let app = TestApp::spawn().await;
        let (tenant, key) = app.tenant("retryafter").await;
        let receiver = Receiver::start().await;
        receiver.script([Answer {
            status: 503,
            headers: vec![("retry-after", header.into())],
        }]);
        app.subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/later"), "event_types": ["booking.created"]}),
        )
        .await;
        let event = app.ingest(&tenant, &key, fresh("created")).await;
        let deliveries = app
            .wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |list| {
                list.len() == 1
                    && list[0]["attempts"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty())
            })
            .await;
        // Still pending after one attempt, due within the cap (an hour: the test schedule's
        // steps are all shorter) — not in the year 5195, and not at once.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.received().len(), 1, "{header}");
        let (_, delivery) = app
            .get(
                &format!(
                    "/v1/tenants/{tenant}/deliveries/{}",
                    deliveries[0]["id"].as_str().unwrap()
                ),
                &key,
            )
            .await;
        assert_eq!(delivery["status"], "pending", "{header}: {delivery}");
        let due =
            chrono::DateTime::parse_from_rfc3339(delivery["next_attempt_at"].as_str().unwrap())
                .unwrap();
        let from_now = due.signed_duration_since(chrono::Utc::now());
        assert!(
            from_now > chrono::TimeDelta::minutes(50) && from_now <= chrono::TimeDelta::minutes(61),
            "{header}: due in {from_now}"
        );
    }
}

#[tokio::test]
async fn a_tenant_running_many_dry_runs_at_once_is_told_to_wait_and_others_are_not() {
    let app = TestApp::spawn_with(|c| {
        c.limits.timeout = Duration::from_secs(5);
        c.dry_runs_per_tenant = 2;
    })
    .await;
    let hostile = krog_test_components::HOSTILE.to_vec();
    let mut keys = Vec::new();
    for name in ["greedy", "patient"] {
        let (tenant, key) = app.tenant(name).await;
        let (status, body) = upload(
            &app,
            &format!("/v1/tenants/{tenant}/modules/hostile"),
            &key,
            hostile.clone(),
        )
        .await;
        assert!(status.is_success(), "{body}");
        keys.push((tenant, key));
    }
    let run = |tenant: String, key: String, behaviour: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url(&format!("/v1/tenants/{tenant}/modules/hostile/run")))
                .bearer_auth(key)
                .json(&json!({"event": crate::common::fixture("created"), "config": behaviour}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let retry_after = response.headers().get("retry-after").is_some();
            (status, retry_after)
        }
    };
    let (greedy, greedy_key) = keys[0].clone();
    let (patient, patient_key) = keys[1].clone();
    let greedy_runs = futures_join3(
        run(greedy.clone(), greedy_key.clone(), "sleep-long"),
        run(greedy.clone(), greedy_key.clone(), "sleep-long"),
        async {
            // After the first two have started.
            tokio::time::sleep(Duration::from_millis(500)).await;
            run(greedy.clone(), greedy_key.clone(), "ok").await
        },
    );
    let patient_run = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        run(patient.clone(), patient_key.clone(), "ok").await
    };
    let ((first, second, third), patient) = tokio::join!(greedy_runs, patient_run);
    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(second.0, StatusCode::OK);
    assert_eq!(third.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(third.1, "a 429 says when to retry");
    assert_eq!(patient.0, StatusCode::OK);
}

async fn futures_join3<A: Future, B: Future, C: Future>(
    a: A,
    b: B,
    c: C,
) -> (A::Output, B::Output, C::Output) {
    tokio::join!(a, b, c)
}

#[tokio::test]
async fn quotas_on_subscriptions_secrets_modules_and_requests_answer_with_what_to_do() {
    let app = TestApp::spawn_with(|c| {
        c.max_subscriptions_per_tenant = 2;
        c.max_live_secrets = 2;
        c.max_modules_per_tenant = 1;
        c.max_versions_per_module = 1;
    })
    .await;
    let (tenant, key) = app.tenant("quota").await;
    let new = json!({"url": "http://127.0.0.1:9/x", "event_types": ["booking.created"]});
    let first = app.subscribe(&tenant, &key, new.clone()).await;
    app.subscribe(&tenant, &key, new.clone()).await;
    let (status, body) = app
        .post(&format!("/v1/tenants/{tenant}/subscriptions"), &key, new)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "quota_exceeded");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KROG_MAX_SUBSCRIPTIONS_PER_TENANT")
    );

    let rotate = format!(
        "/v1/tenants/{tenant}/subscriptions/{}/rotate-secret",
        first["id"].as_str().unwrap()
    );
    let (status, body) = app.post(&rotate, &key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post(&rotate, &key, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KROG_MAX_LIVE_SECRETS")
    );

    let hostile = krog_test_components::HOSTILE.to_vec();
    let (status, body) = upload(
        &app,
        &format!("/v1/tenants/{tenant}/modules/one"),
        &key,
        hostile.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = upload(
        &app,
        &format!("/v1/tenants/{tenant}/modules/two"),
        &key,
        hostile,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KROG_MAX_MODULES_PER_TENANT")
    );
    let other_bytes = schema_bomb(json!({"type": "object"})).await;
    let (status, body) = upload(
        &app,
        &format!("/v1/tenants/{tenant}/modules/one"),
        &key,
        other_bytes,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("KROG_MAX_VERSIONS_PER_MODULE")
    );
}

#[tokio::test]
async fn a_key_over_its_request_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = TestApp::spawn_with(|c| c.api_requests_per_second = 5).await;
    let (tenant, key) = app.tenant("chatty").await;
    let (quiet, quiet_key) = app.tenant("quiet").await;
    let path = format!("/v1/tenants/{tenant}/subscriptions");
    let mut limited = None;
    for _ in 0..50 {
        let response = app
            .client
            .get(app.url(&path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("a key sending 50 requests at once is limited at 5 a second");
    assert!(limited.headers().get("retry-after").is_some());
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    let (status, _) = app
        .get(&format!("/v1/tenants/{quiet}/subscriptions"), &quiet_key)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_proxy_in_krogs_environment_does_not_route_tenants_deliveries() {
    // A proxy that refuses every connection: a delivery routed through it never arrives.
    let db = crate::common::TestDatabase::new().await;
    let (mut child, base) = crate::common::start_krog(
        db.dir.path(),
        &db.url,
        &[
            ("HTTP_PROXY", "http://127.0.0.1:1"),
            ("http_proxy", "http://127.0.0.1:1"),
            ("HTTPS_PROXY", "http://127.0.0.1:1"),
            ("ALL_PROXY", "http://127.0.0.1:1"),
        ],
    )
    .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: String, key: String, body: Value| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let response = client
                .post(format!("{base}{path}"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, _) = post(
        "/v1/tenants".into(),
        ADMIN_KEY.into(),
        json!({"id": "proxied", "name": "P"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, key) = post(
        "/v1/tenants/proxied/keys".into(),
        ADMIN_KEY.into(),
        json!({}),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let receiver = Receiver::start().await;
    let (status, _) = post(
        "/v1/tenants/proxied/subscriptions".into(),
        key.clone(),
        json!({"url": receiver.url("/direct"), "event_types": ["booking.created"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post("/v1/tenants/proxied/events".into(), key, fresh("created")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    receiver.wait_for(1).await;
    let _ = child.kill().await;
}
