//! A newcomer's mistakes, caught when they are made: a config the plugin refuses is answered at
//! save; a module a subscription uses cannot be deleted; version numbers are never given out
//! twice; a catalog name for the tenant's own module, or a module sent as a form, is told how
//! to fix it; an absent config is the schema's default, the same for `krog plugin run` and the
//! API. Failures that would repeat are not retried, and the delivery log shows the headers sent.

use std::time::Duration;

use crate::common::{
    ADMIN_KEY, Receiver, TestApp, build_stranger, fixture, fresh, krog_binary, verify,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// The `stamp` plugin (a config struct) and `hello` (the SDK README's, `type Config = ()`),
/// built once per test binary.
async fn stamp() -> Vec<u8> {
    static WASM: OnceCell<Vec<u8>> = OnceCell::const_new();
    WASM.get_or_init(|| build_stranger("stamp")).await.clone()
}

async fn hello() -> Vec<u8> {
    static WASM: OnceCell<Vec<u8>> = OnceCell::const_new();
    WASM.get_or_init(|| build_stranger("hello")).await.clone()
}

fn hook(types: &[&str], transform: Value) -> Value {
    json!({"url": "https://example.com/hook", "event_types": types, "transform": transform})
}

#[tokio::test]
async fn a_config_the_plugin_refuses_is_answered_422_at_save_with_the_plugins_message() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let path = format!("/v1/tenants/{tenant}/subscriptions");
    for (module, config, says) in [
        (
            "slack",
            json!({"timezone": "Europe/Copenhagn"}),
            "Europe/Copenhagn",
        ),
        (
            "redact",
            json!({"paths": ["client.email"]}),
            "must start with `/`",
        ),
    ] {
        let body = hook(
            &["booking.created", "booking.updated"],
            json!({"module": module, "config": config}),
        );
        let (status, error) = app.post(&path, &key, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{module}: {error}"
        );
        assert_eq!(error["code"], "plugin_error", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(says) && message.contains(module),
            "{message}"
        );
    }
    // A change is tried the same way, and a refused one changes nothing.
    let sub = app
        .subscribe(
            &tenant,
            &key,
            hook(
                &["booking.created"],
                json!({"module": "slack", "config": {"locale": "en"}}),
            ),
        )
        .await;
    let sub_path = format!("{path}/{}", sub["id"].as_str().unwrap());
    let (status, error) = app
        .call(
            Method::PATCH,
            &sub_path,
            &key,
            Some(json!({"transform": {"module": "slack", "config": {"timezone": "Mars/Olympus"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error["message"].as_str().unwrap().contains("Mars/Olympus"));
    let (_, kept) = app.get(&sub_path, &key).await;
    assert_eq!(kept["transform"]["config"], json!({"locale": "en"}));
    let (_, all) = app.get(&path, &key).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1, "{all}");
}

#[tokio::test]
async fn a_failure_that_would_repeat_is_not_retried_and_a_retry_by_hand_after_the_fix_delivers() {
    // Five quick retries: without the rule the delivery would have six attempts in well under
    // a second.
    let app = TestApp::spawn_with(|c| {
        c.retry_schedule = vec![Duration::from_millis(50); 5];
        c.limits.timeout = Duration::from_secs(5);
    })
    .await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (status, body) = app
        .upload(
            &format!("/v1/tenants/{tenant}/modules/hostile"),
            &key,
            krog_test_components::HOSTILE.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The hostile plugin behaves on the sample events, so this saves.
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/fixed"), "event_types": ["booking.created"],
                   "transform": {"module": "tenant:hostile", "config": "err"}}),
        )
        .await;
    let event = fresh("created");
    let event_id = event["id"].as_str().unwrap().to_owned();
    app.ingest(&tenant, &key, event).await;
    app.wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "failed")
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "failed")
        .await;
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "not retried: {attempts:#?}");
    assert_eq!(attempts[0]["kind"], "plugin_error");
    let error = attempts[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with("plugin error") && error.contains("not retried"),
        "{error}"
    );
    assert!(receiver.received().is_empty());

    let sub_path = format!(
        "/v1/tenants/{tenant}/subscriptions/{}",
        sub["id"].as_str().unwrap()
    );
    let (status, body) = app
        .call(
            Method::PATCH,
            &sub_path,
            &key,
            Some(json!({"transform": {"module": "tenant:hostile", "config": "ok"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let delivery = deliveries[0]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/deliveries/{delivery}/retry"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "succeeded")
        .await;
    let got = receiver.wait_for(1).await;
    assert_eq!(&got[0].body[..], b"ok booking.created klinik");
}

#[tokio::test]
async fn a_module_version_a_subscription_uses_cannot_be_deleted_and_the_answer_names_it() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let path = format!("/v1/tenants/{tenant}/modules/stamp");
    let (status, body) = app.upload(&path, &key, stamp().await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sub = app
        .subscribe(
            &tenant,
            &key,
            hook(
                &["booking.created"],
                json!({"module": "tenant:stamp", "config": {"stamp": "x"}}),
            ),
        )
        .await;
    let sub_id = sub["id"].as_str().unwrap();
    let delete = |version: i64| {
        let at = format!("{path}/versions/{version}");
        let (app, key) = (&app, &key);
        async move { app.call(Method::DELETE, &at, key, None).await }
    };
    // Its only version: the unpinned subscription resolves to it.
    let (status, error) = delete(1).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains(sub_id),
        "{error}"
    );
    // With a newer version the subscription uses that one; the old one may go, the new not.
    let (status, body) = app
        .upload(&path, &key, krog_test_components::HOSTILE.to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 2);
    let (status, body) = delete(1).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, error) = delete(2).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert!(error["message"].as_str().unwrap().contains(sub_id));
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/{tenant}/subscriptions/{sub_id}"),
            &key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = delete(2).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn version_numbers_are_never_given_out_twice() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let path = format!("/v1/tenants/{tenant}/modules/mine");
    let upload = |bytes: Vec<u8>| app.upload(&path, &key, bytes);
    let delete = |version: i64| {
        let at = format!("{path}/versions/{version}");
        let (app, key) = (&app, &key);
        async move { app.call(Method::DELETE, &at, key, None).await }
    };
    let hostile = krog_test_components::HOSTILE.to_vec();
    let (_, first) = upload(stamp().await).await;
    assert_eq!(first["version"], 1, "{first}");
    assert_eq!(delete(1).await.0, StatusCode::NO_CONTENT);
    // Every version gone, and the same bytes again: still a new number.
    let (status, again) = upload(stamp().await).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["version"], 2, "{again}");
    let (_, third) = upload(hostile.clone()).await;
    assert_eq!(third["version"], 3, "{third}");
    assert_eq!(delete(3).await.0, StatusCode::NO_CONTENT);
    let (_, fourth) = upload(hostile).await;
    assert_eq!(fourth["version"], 4, "{fourth}");
    let (_, versions) = app.get(&path, &key).await;
    let numbers: Vec<i64> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 4]);
}

#[tokio::test]
async fn a_catalog_name_for_the_tenants_own_module_hints_at_the_tenant_prefix() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (status, body) = app
        .upload(
            &format!("/v1/tenants/{tenant}/modules/greeter"),
            &key,
            stamp().await,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let path = format!("/v1/tenants/{tenant}/subscriptions");
    let (status, error) = app
        .post(
            &path,
            &key,
            hook(&["booking.created"], json!({"module": "greeter"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("\"tenant:greeter\""),
        "{error}"
    );
    let (status, error) = app
        .post(
            &path,
            &key,
            hook(&["booking.created"], json!({"module": "slak"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("slack") && message.contains("tenant:greeter"),
        "the modules there are listed: {message}"
    );
}

#[tokio::test]
async fn a_module_sent_as_a_form_is_told_to_use_data_binary() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    // What `curl -d @stamp.wasm` sends: the bytes without their line breaks, as a form.
    let mangled: Vec<u8> = stamp()
        .await
        .into_iter()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    let response = app
        .client
        .put(app.url(&format!("/v1/tenants/{tenant}/modules/stamp")))
        .bearer_auth(&key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(mangled)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("is the body the file's bytes? with curl use --data-binary"),
        "{message}"
    );
}

#[tokio::test]
async fn a_plugin_without_config_is_saved_without_one_and_delivers() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (status, body) = app
        .upload(
            &format!("/v1/tenants/{tenant}/modules/hello"),
            &key,
            hello().await,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/hello"), "event_types": ["booking.created"],
                   "transform": {"module": "tenant:hello"}}),
        )
        .await;
    assert_eq!(sub["transform"]["config"], Value::Null, "{sub}");
    // A formatter with a config struct gets its default the same way.
    let slack = app
        .subscribe(
            &tenant,
            &key,
            hook(&["booking.created"], json!({"module": "slack"})),
        )
        .await;
    assert!(slack["transform"]["config"].is_object(), "{slack}");
    app.ingest(&tenant, &key, fresh("created")).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json(), json!({"hello": "Jens Ødegård"}));
}

#[tokio::test]
async fn the_delivery_log_shows_the_headers_that_were_sent() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (status, body) = app
        .upload(
            &format!("/v1/tenants/{tenant}/modules/stamp"),
            &key,
            stamp().await,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/stamped"), "event_types": ["booking.created"],
                   "transform": {"module": "tenant:stamp", "config": {"stamp": "hej"}}}),
        )
        .await;
    let event = fresh("created");
    let event_id = event["id"].as_str().unwrap().to_owned();
    app.ingest(&tenant, &key, event).await;
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "succeeded")
        .await;
    let got = receiver.wait_for(1).await;
    verify(sub["secret"].as_str().unwrap(), &got[0]).expect("the delivery verifies");
    let (_, one) = app
        .get(
            &format!(
                "/v1/tenants/{tenant}/deliveries/{}",
                deliveries[0]["id"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    let shown: Vec<(String, String)> =
        serde_json::from_value(one["request"]["headers"].clone()).unwrap();
    for name in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "x-stamp",
    ] {
        let value = shown
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        assert_eq!(value, Some(got[0].header(name)), "{name} in {shown:?}");
    }
}

/// `krog plugin run` on `module` with `config` (none: no `--config`): whether it succeeded,
/// and what it printed.
async fn plugin_run(dir: &std::path::Path, module: &str, config: Option<&str>) -> (bool, String) {
    let event = dir.join("event.json");
    std::fs::write(&event, fixture("created").to_string()).unwrap();
    let mut command = tokio::process::Command::new(krog_binary());
    command
        .args(["plugin", "run", module, "--event"])
        .arg(&event)
        .current_dir(dir);
    if let Some(config) = config {
        command.args(["--config", config]);
    }
    let output = command.output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn krog_plugin_run_and_the_server_accept_and_refuse_the_same_configs() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let dir = tempfile::tempdir().unwrap();
    for (name, wasm) in [("hello", hello().await), ("stamp", stamp().await)] {
        std::fs::write(dir.path().join(format!("{name}.wasm")), &wasm).unwrap();
        let (status, body) = app
            .upload(&format!("/v1/tenants/{tenant}/modules/{name}"), &key, wasm)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // (the module for `krog plugin run`, for a subscription, the config or none)
    let table: &[(&str, &str, Option<Value>)] = &[
        ("slack", "slack", None),
        ("slack", "slack", Some(json!({"locale": "da"}))),
        ("slack", "slack", Some(json!({"locale": "fr"}))),
        (
            "slack",
            "slack",
            Some(json!({"timezone": "Europe/Copenhagn"})),
        ),
        (
            "slack",
            "slack",
            Some(json!({"locale": "en", "colour": "red"})),
        ),
        ("hello.wasm", "tenant:hello", None),
        ("hello.wasm", "tenant:hello", Some(Value::Null)),
        (
            "hello.wasm",
            "tenant:hello",
            Some(json!({"greeting": "hej"})),
        ),
        ("stamp.wasm", "tenant:stamp", Some(json!({"stamp": "x"}))),
        ("stamp.wasm", "tenant:stamp", Some(json!({"stamp": 5}))),
    ];
    let path = format!("/v1/tenants/{tenant}/subscriptions");
    let mut agreed = 0;
    for (file, module, config) in table {
        let mut transform = json!({"module": module});
        if let Some(config) = config {
            transform["config"] = config.clone();
        }
        let (status, body) = app
            .post(&path, &key, hook(&["booking.created"], transform))
            .await;
        let config_text = config.as_ref().map(Value::to_string);
        let (ran, printed) = plugin_run(dir.path(), file, config_text.as_deref()).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{status} {body}"
        );
        assert_eq!(
            ran,
            status == StatusCode::CREATED,
            "{module} with {config:?}: the server answered {status} {body}; \
             `krog plugin run` printed:\n{printed}"
        );
        agreed += 1;
    }
    assert_eq!(agreed, table.len());
    // Text that is not JSON is refused, not handed to the plugin.
    let (ran, printed) = plugin_run(dir.path(), "slack", Some("{locale:en}")).await;
    assert!(!ran && printed.contains("not valid JSON"), "{printed}");
    let _ = ADMIN_KEY;
}
