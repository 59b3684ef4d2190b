//! Modules through the API: a stranger's plugin crate built with cargo, uploaded, used in a
//! subscription; refused uploads; versions, pinning, isolation; dry runs.

use std::path::PathBuf;

use crate::common::{ADMIN_KEY, Receiver, TestApp, fresh, verify};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// Builds `tests/plugins/stamp` exactly as its author would, once per test binary.
async fn stamp_wasm() -> &'static [u8] {
    static WASM: OnceCell<Vec<u8>> = OnceCell::const_new();
    WASM.get_or_init(|| async {
        tokio::task::spawn_blocking(|| {
            let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/stamp");
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
                "building the stamp plugin failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::fs::read(target_dir.join("wasm32-wasip2/release/stamp.wasm"))
                .expect("the component exists")
        })
        .await
        .unwrap()
    })
    .await
}

/// Uploads the stamp plugin as the tenant's module `stamp`.
async fn upload_stamp(app: &TestApp, tenant: &str, key: &str) -> (StatusCode, Value) {
    let path = format!("/v1/tenants/{tenant}/modules/stamp");
    upload(app, &path, key, stamp_wasm().await.to_vec()).await
}

async fn upload(app: &TestApp, path: &str, key: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    app.upload(path, key, bytes).await
}

#[tokio::test]
async fn a_strangers_plugin_is_uploaded_used_and_its_output_arrives_signed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (status, version) = upload_stamp(&app, &tenant, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{version}");
    assert_eq!(version["name"], "stamp");
    assert_eq!(version["version"], 1);
    assert_eq!(version["info"]["name"], "stamp");
    assert_eq!(version["info"]["version"], "1.2.0");
    assert_eq!(version["sha256"].as_str().unwrap().len(), 64);
    assert!(
        version["info"]["config_schema"]["properties"]["stamp"].is_object(),
        "{version}"
    );

    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/stamped"), "event_types": ["booking.created"],
                   "transform": {"module": "tenant:stamp", "config": {"stamp": "hej"}}}),
        )
        .await;
    app.ingest(&tenant, &key, fresh("created")).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(
        got[0].json(),
        json!({"stamp": "hej", "booking": "bk_1042", "event": "booking.created"})
    );
    assert_eq!(got[0].header("x-stamp"), "hej");
    verify(sub["secret"].as_str().unwrap(), &got[0]).expect("signed");
}

#[tokio::test]
async fn identical_bytes_return_the_existing_version_and_new_bytes_a_new_one() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let path = format!("/v1/tenants/{tenant}/modules/stamp");
    let wasm = stamp_wasm().await.to_vec();
    let (status, first) = upload(&app, &path, &key, wasm.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = upload(&app, &path, &key, wasm.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["version"], again["version"]);
    // Another valid component under the same name is version 2.
    let slack = krog::runtime::catalog::builtin("slack")
        .unwrap()
        .wasm
        .to_vec();
    let (status, second) = upload(&app, &path, &key, slack).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(second["version"], 2);
    let (status, all) = app.get(&path, &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let response = app
        .client
        .get(app.url(&format!("{path}/versions/1/wasm")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/wasm");
    assert_eq!(response.bytes().await.unwrap().as_ref(), wasm.as_slice());
}

/// Modules compiled in a child process so far, from `/metrics`.
async fn compiled_in_child(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .find(|l| l.starts_with("krog_module_compiles_total{place=\"child_process\"}"))
        .and_then(|l| l.split_whitespace().last())
        .map_or(0, |v| v.parse::<f64>().unwrap() as u64)
}

#[tokio::test]
async fn modules_compile_in_a_child_process_and_are_refused_there_in_the_same_words() {
    // A cache of its own, so that the catalog compiles on this start. The metrics recorder is
    // global to this test binary, but no other test in it compiles in a child: the counter
    // moves for this test alone.
    let cache = tempfile::tempdir().unwrap();
    let mut installed = 0;
    let app = TestApp::spawn_with(|c| {
        c.compiler = Some(crate::common::krog_binary());
        c.cache_dir = Some(cache.path().to_owned());
        installed = c
            .builtin_modules
            .as_ref()
            .map_or(krog::runtime::catalog::builtins().len(), |names| {
                names.len()
            });
    })
    .await;
    let at_start = compiled_in_child(&app).await;
    assert!(
        at_start >= installed as u64,
        "the catalog compiled in children at start: {at_start}"
    );

    let (tenant, key) = app.tenant("kinder").await;
    let (status, version) = upload_stamp(&app, &tenant, &key).await;
    assert_eq!(status, StatusCode::CREATED, "{version}");
    assert_eq!(compiled_in_child(&app).await, at_start + 1);
    let (status, run) = app
        .post(
            &format!("/v1/tenants/{tenant}/modules/stamp/run"),
            &key,
            json!({"event": fresh("created"), "config": {"stamp": "child"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["outcome"], "deliver", "{run}");
    assert!(run["body"].as_str().unwrap().contains("child"), "{run}");

    // A component header over bytes that are no component: the compiler refuses it.
    let mut broken = b"\0asm\x0d\x00\x01\x00".to_vec();
    broken.extend_from_slice(&[0xff; 16]);
    let (status, error) = upload(
        &app,
        &format!("/v1/tenants/{tenant}/modules/broken"),
        &key,
        broken.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "invalid_module", "{error}");
    let in_process = krog::runtime::Runtime::new(Default::default())
        .unwrap()
        .load(&broken)
        .err()
        .unwrap();
    // The same words, and (bytes that do not decode) how to upload a file unchanged.
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with(&in_process.message), "{message}");
    assert!(
        message.ends_with("(-d strips the file's line breaks)"),
        "{message}"
    );
    assert_eq!(compiled_in_child(&app).await, at_start + 1);
}

#[tokio::test]
async fn refused_uploads_answer_422_with_the_kind_or_413_when_too_large() {
    let app = TestApp::spawn_with(|c| c.limits.max_module_bytes = 4 * 1024 * 1024).await;
    let (tenant, key) = app.tenant("klinik").await;
    let core_module = wat::parse_str("(module (func (export \"f\")))").unwrap();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "garbage",
            b"this is not wasm".to_vec(),
            "invalid_module",
            "",
        ),
        (
            "a core module",
            core_module,
            "invalid_module",
            "wasm32-wasip2",
        ),
        (
            "a component of another world",
            krog_test_components::WRONG_WORLD.to_vec(),
            "invalid_module",
            "",
        ),
        (
            "an oversized file",
            vec![0u8; 5 * 1024 * 1024],
            "module_too_large",
            "limit",
        ),
    ];
    for (what, bytes, kind, hint) in cases {
        let (status, error) = upload(
            &app,
            &format!("/v1/tenants/{tenant}/modules/bad"),
            &key,
            bytes,
        )
        .await;
        // A module over the size limit is a 413 like any body over a limit; the others 422.
        let expected = if kind == "module_too_large" {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        assert_eq!(status, expected, "{what}: {error}");
        assert_eq!(error["code"], kind, "{what}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(hint),
            "{what}: {error}"
        );
    }
    let (status, _) = upload(
        &app,
        &format!("/v1/tenants/{tenant}/modules/Bad_Name"),
        &key,
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .get(&format!("/v1/tenants/{tenant}/modules/bad"), &key)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");
}

#[tokio::test]
async fn a_pinned_version_cannot_be_deleted_until_unpinned() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let path = format!("/v1/tenants/{tenant}/modules/stamp");
    upload(&app, &path, &key, stamp_wasm().await.to_vec()).await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": "https://example.com/hook", "event_types": ["booking.created"],
                   "transform": {"module": "tenant:stamp", "version": 1, "config": {"stamp": "x"}}}),
        )
        .await;
    let sub_id = sub["id"].as_str().unwrap();
    let (status, error) = app
        .call(
            reqwest::Method::DELETE,
            &format!("{path}/versions/1"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains(sub_id),
        "{error}"
    );
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/tenants/{tenant}/subscriptions/{sub_id}"),
            &key,
            Some(json!({"transform": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("{path}/versions/1"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_tenant_can_never_use_another_tenants_module() {
    let app = TestApp::spawn().await;
    let (a, key_a) = app.tenant("alpha").await;
    let (b, key_b) = app.tenant("beta").await;
    upload_stamp(&app, &a, &key_a).await;
    let (status, _) = app
        .get(&format!("/v1/tenants/{a}/modules/stamp"), &key_b)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/v1/tenants/{b}/modules/stamp"), &key_b)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, error) = app
        .post(
            &format!("/v1/tenants/{b}/subscriptions"),
            &key_b,
            json!({"url": "https://example.com/x", "event_types": ["booking.created"],
                   "transform": {"module": "tenant:stamp", "config": {}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    // Tenants may not write the shared catalog.
    let (status, _) = upload(
        &app,
        "/v1/modules/stamp",
        &key_a,
        stamp_wasm().await.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_catalog_holds_the_built_in_formatters() {
    // All of them, not only the Rust ones the other tests install.
    let app = TestApp::spawn_with(|c| c.builtin_modules = None).await;
    let (_, key) = app.tenant("klinik").await;
    let (status, catalog) = app.get("/v1/modules", &key).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = catalog["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["filter", "redact", "reminder", "sheets", "slack", "teams"]
    );
    assert!(
        catalog["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["builtin"] == env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_dry_run_shows_the_outcome_and_delivers_nothing() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (status, run) = app
        .post(
            "/v1/modules/slack/run",
            &key,
            json!({"event": fresh("updated"), "config": {"locale": "en"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["outcome"], "deliver");
    assert_eq!(run["content_type"], "application/json");
    assert!(run["body"].as_str().unwrap().contains("blocks"));
    assert!(run["duration_us"].as_u64().is_some() && run["fuel_consumed"].as_u64().unwrap() > 0);

    upload_stamp(&app, &tenant, &key).await;
    let mut cancelled = fresh("created");
    cancelled["data"]["status"] = json!("cancelled");
    let (status, run) = app
        .post(
            &format!("/v1/tenants/{tenant}/modules/stamp/run"),
            &key,
            json!({"event": cancelled, "config": {"stamp": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["outcome"], "skip");
    assert_eq!(run["reason"], "cancelled bookings are not stamped");
    let (status, run) = app
        .post(
            &format!("/v1/tenants/{tenant}/modules/stamp/versions/1/run"),
            &key,
            json!({"event": fresh("created"), "config": {"stamp": "y"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["outcome"], "deliver");
    assert!(
        run["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"].as_str().unwrap().contains("stamping")),
        "{run}"
    );
    let (_, deliveries) = app
        .get(&format!("/v1/tenants/{tenant}/deliveries"), &key)
        .await;
    assert!(deliveries["data"].as_array().unwrap().is_empty());
    let _ = ADMIN_KEY;
}

#[tokio::test]
async fn a_hostile_plugin_is_recorded_as_a_plugin_error_and_harms_no_one() {
    // A generous wall clock, so that on a loaded machine each misbehaviour is stopped by its
    // own limit (fuel, memory) rather than by the deadline.
    let app = TestApp::spawn_with(|c| {
        c.retry_schedule = vec![];
        c.limits.timeout = std::time::Duration::from_secs(5);
    })
    .await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("mallory").await;
    let (other, other_key) = app.tenant("innocent").await;
    let (status, body) = upload(
        &app,
        &format!("/v1/tenants/{tenant}/modules/hostile"),
        &key,
        krog_test_components::HOSTILE.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let behaviours = [
        ("loop", "out_of_fuel"),
        ("memory", "memory_limit"),
        ("panic", "trap"),
        ("reserved-header", "reserved_header"),
        ("err", "plugin_error"),
    ];
    for (behaviour, _) in behaviours {
        app.subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url(&format!("/{behaviour}")), "event_types": ["booking.created"],
                   "transform": {"module": "tenant:hostile", "config": behaviour}}),
        )
        .await;
    }
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/plain"), "event_types": ["booking.created"]}),
    )
    .await;
    app.subscribe(
        &other,
        &other_key,
        json!({"url": receiver.url("/other"), "event_types": ["booking.created"]}),
    )
    .await;

    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;
    let other_event = fresh("created");
    app.ingest(&other, &other_key, other_event).await;
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d.len() == 6 && d.iter().all(|d| d["status"] != "pending")
        })
        .await;
    let got = receiver.wait_for(2).await;
    let mut paths: Vec<_> = got.iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/other", "/plain"],
        "only the well-behaved subscriptions received anything"
    );
    let (_, subs) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions"), &key)
        .await;
    for (behaviour, kind) in behaviours {
        let sub = subs["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["url"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{behaviour}"))
            })
            .unwrap();
        let delivery = deliveries
            .iter()
            .find(|d| d["subscription_id"] == sub["id"])
            .unwrap();
        assert_eq!(delivery["status"], "failed", "{behaviour}: {delivery}");
        let attempt = &delivery["attempts"][0];
        // An endless loop is stopped by fuel or, on a loaded machine, by the wall clock first.
        let stopped_as = attempt["kind"].as_str().unwrap();
        assert!(
            stopped_as == kind || (behaviour == "loop" && stopped_as == "timeout"),
            "{behaviour}: {attempt}"
        );
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .starts_with("plugin error"),
            "{attempt}"
        );
        assert!(attempt["status_code"].is_null());
    }
}
