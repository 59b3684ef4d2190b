//! Endpoint health and operational events, seen from outside: a 410 stops a subscription as
//! `gone`, one failing for `KROG_DISABLE_AFTER` as `failing`; `krog.subscription.disabled` and
//! `krog.delivery.failed` reach the tenant's subscriptions that listen to them (signed, the
//! Slack formatter rendering them), never the subscription they are about, and never in a
//! loop; `POST …/enable` starts a subscription again and sends what failed.

use std::time::Duration;

use crate::common::{Answer, Receiver, TestApp, fresh, verify};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Every attempt answered 500 (more answers than any test here asks for).
fn failing(receiver: &Receiver) {
    receiver.script(std::iter::repeat_n(Answer::status(500), 200));
}

/// Four quick attempts, and failing for 150 ms is enough to be stopped.
fn quick_to_stop(config: &mut krog::Config) {
    config.retry_schedule = vec![Duration::from_millis(100); 3];
    config.disable_after = Duration::from_millis(150);
}

async fn subscription(app: &TestApp, tenant: &str, key: &str, id: &str) -> Value {
    let (status, sub) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions/{id}"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{sub}");
    sub
}

/// Polls subscription `id` until `done` holds for it.
async fn wait_for_subscription(
    app: &TestApp,
    tenant: &str,
    key: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let sub = subscription(app, tenant, key, id).await;
        if done(&sub) {
            return sub;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscription {id} never got there: {sub}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Every delivery of the tenant (newest first), up to 200.
async fn deliveries(app: &TestApp, tenant: &str, key: &str, filter: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            &format!("/v1/tenants/{tenant}/deliveries?limit=200{filter}"),
            key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

fn id(value: &Value) -> &str {
    value["id"].as_str().unwrap()
}

#[tokio::test]
async fn a_410_stops_the_subscription_as_gone() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script([Answer::status(410)]);
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/gone"), "event_types": ["booking.created"]}),
        )
        .await;
    assert_eq!(sub["disabled_reason"], Value::Null, "{sub}");
    assert_eq!(sub["disabled_at"], Value::Null, "{sub}");
    app.ingest(&tenant, &key, fresh("created")).await;
    let sub = wait_for_subscription(&app, &tenant, &key, id(&sub), |s| s["enabled"] == false).await;
    assert_eq!(sub["disabled_reason"], "gone", "{sub}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(sub["disabled_at"].as_str().unwrap()).is_ok(),
        "{sub}"
    );
}

#[tokio::test]
async fn patching_enabled_false_pauses_the_subscription_and_enable_starts_it_again() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["booking.created"]}),
        )
        .await;
    let path = format!("/v1/tenants/{tenant}/subscriptions/{}", id(&sub));
    let (status, paused) = app
        .call(Method::PATCH, &path, &key, Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["disabled_reason"], "paused");
    assert!(paused["disabled_at"].is_string(), "{paused}");

    // Changing something else keeps the pause as it was.
    let (_, described) = app
        .call(
            Method::PATCH,
            &path,
            &key,
            Some(json!({"description": "Kalender"})),
        )
        .await;
    assert_eq!(described["disabled_reason"], "paused");
    assert_eq!(described["disabled_at"], paused["disabled_at"]);

    // No body at all: enabled, nothing resent.
    let response = app
        .client
        .post(app.url(&format!("{path}/enable")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let enabled: Value = response.json().await.unwrap();
    assert_eq!(enabled["resent"], 0, "{enabled}");
    assert_eq!(enabled["subscription"]["enabled"], true, "{enabled}");
    assert_eq!(enabled["subscription"]["disabled_reason"], Value::Null);
    assert_eq!(enabled["subscription"]["disabled_at"], Value::Null);

    let (status, missing) = app
        .post(
            &format!("/v1/tenants/{tenant}/subscriptions/sub_nobody/enable"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
}

#[tokio::test]
async fn ingesting_a_krog_event_type_is_refused_because_only_krog_emits_them() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    for event_type in [
        "krog.subscription.disabled",
        "krog.delivery.failed",
        "krog.other",
    ] {
        let (status, body) = app
            .post(
                &format!("/v1/tenants/{tenant}/events"),
                &key,
                json!({"type": event_type, "data": {"subscription_id": "sub_1"}}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{event_type}: {body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("only krog emits them"),
            "{body}"
        );
    }
    // Subscribing to them is fine; to an unknown krog type is not.
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/subscriptions"),
            &key,
            json!({"url": "http://127.0.0.1:9/x", "event_types": ["krog.other"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn a_subscription_failing_for_disable_after_is_stopped_and_a_slack_listener_is_told_signed() {
    let app = TestApp::spawn_with(quick_to_stop).await;
    let broken = Receiver::start().await;
    failing(&broken);
    let slack = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    // It listens to the notice too, and must not get the one about itself.
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": broken.url("/sheet"), "description": "Bookingark",
                   "event_types": ["booking.created", "krog.subscription.disabled"]}),
        )
        .await;
    let listener = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": slack.url("/slack"), "event_types": ["krog.subscription.disabled"],
                   "transform": {"module": "slack", "config": {"locale": "da"}}}),
        )
        .await;
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;

    let stopped =
        wait_for_subscription(&app, &tenant, &key, id(&sub), |s| s["enabled"] == false).await;
    assert_eq!(stopped["disabled_reason"], "failing", "{stopped}");
    assert!(stopped["disabled_at"].is_string(), "{stopped}");

    let got = slack.wait_for(1).await;
    verify(listener["secret"].as_str().unwrap(), &got[0]).expect("signed for the listener");
    let message = got[0].json();
    let text = message["text"].as_str().unwrap();
    assert!(
        text.contains("Integrationen til 127.0.0.1 er stoppet: den har fejlet siden"),
        "{message}"
    );
    assert!(message.to_string().contains("Bookingark"), "{message}");

    // The failing subscription got the booking only (its four attempts), nothing about itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for request in broken.received() {
        assert_eq!(request.json()["type"], "booking.created", "{request:?}");
    }
    for delivery in deliveries(
        &app,
        &tenant,
        &key,
        &format!("&subscription_id={}", id(&sub)),
    )
    .await
    {
        assert_eq!(delivery["event_id"], event["id"], "{delivery}");
    }
    assert_eq!(slack.received().len(), 1, "one notice");
}

#[tokio::test]
async fn a_delivery_failed_for_good_reaches_its_listener_and_not_the_subscription_it_is_about() {
    let app = TestApp::spawn().await;
    let broken = Receiver::start().await;
    failing(&broken);
    let watcher = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": broken.url("/hook"),
                   "event_types": ["booking.created", "krog.delivery.failed"]}),
        )
        .await;
    let listener = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": watcher.url("/ops"), "event_types": ["krog.delivery.failed"]}),
        )
        .await;
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;

    let got = watcher.wait_for(1).await;
    verify(listener["secret"].as_str().unwrap(), &got[0]).expect("signed for the listener");
    let notice = got[0].json();
    assert_eq!(notice["type"], "krog.delivery.failed", "{notice}");
    assert_eq!(notice["data"]["subscription_id"], sub["id"], "{notice}");
    assert_eq!(notice["data"]["event_id"], event["id"], "{notice}");
    assert!(
        notice["data"]["last_error"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{notice}"
    );
    let failed = deliveries(
        &app,
        &tenant,
        &key,
        &format!("&event_id={}", event["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(notice["data"]["delivery_id"], failed[0]["id"], "{notice}");
    assert_eq!(failed[0]["status"], "failed");

    // The subscription it is about listens to the type too, and still gets nothing of it; it
    // stays enabled (KROG_DISABLE_AFTER is days by default).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_to_broken = broken.received();
    assert_eq!(sent_to_broken.len(), 4, "the booking's four attempts only");
    assert!(
        sent_to_broken
            .iter()
            .all(|r| r.json()["type"] == "booking.created")
    );
    assert_eq!(
        subscription(&app, &tenant, &key, id(&sub)).await["enabled"],
        true
    );
    assert_eq!(watcher.received().len(), 1);
}

#[tokio::test]
async fn two_failing_subscriptions_listening_to_each_others_failures_do_not_feed_each_other() {
    let app = TestApp::spawn_with(quick_to_stop).await;
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    failing(&first);
    failing(&second);
    let (tenant, key) = app.tenant("klinik").await;
    let types = json!([
        "booking.created",
        "krog.delivery.failed",
        "krog.subscription.disabled"
    ]);
    for receiver in [&first, &second] {
        app.subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/ops"), "event_types": types}),
        )
        .await;
    }
    app.ingest(&tenant, &key, fresh("created")).await;

    // Two bookings fail; each tells the other (delivery failed, subscription stopped), and
    // those notices fail in turn without a notice of their own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let settled = loop {
        let all = deliveries(&app, &tenant, &key, "").await;
        if all.len() >= 2 && all.iter().all(|d| d["status"] != "pending") {
            break all;
        }
        assert!(tokio::time::Instant::now() < deadline, "{all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = deliveries(&app, &tenant, &key, "").await;
    assert_eq!(
        later.len(),
        settled.len(),
        "no more deliveries appeared: {later:#?}"
    );
    // 2 bookings, and at most 2 notices about each of the two subscriptions.
    assert!(
        (2..=6).contains(&later.len()),
        "{} deliveries: {later:#?}",
        later.len()
    );
    let notices = later
        .iter()
        .filter(|d| d["event_id"].as_str().unwrap().starts_with("evt_krog"))
        .count();
    assert!(
        notices >= 1,
        "each failure was told to the other: {later:#?}"
    );
}

#[tokio::test]
async fn enable_with_resend_failed_sends_what_failed_again_once_the_receiver_recovers() {
    let app = TestApp::spawn_with(quick_to_stop).await;
    let receiver = Receiver::start().await;
    // Every attempt of the first stretch fails: four attempts of each of two events at most.
    receiver.script(std::iter::repeat_n(Answer::status(503), 8));
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/hook"), "event_types": ["booking.created"]}),
        )
        .await;
    let events = [fresh("created"), fresh("created")];
    for event in &events {
        app.ingest(&tenant, &key, event.clone()).await;
    }
    wait_for_subscription(&app, &tenant, &key, id(&sub), |s| {
        s["disabled_reason"] == "failing"
    })
    .await;
    // Both deliveries end failed: exhausted, or abandoned once the subscription stopped.
    for event in &events {
        app.wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d.len() == 1 && d[0]["status"] == "failed"
        })
        .await;
    }
    // Whatever is left of the script fails too, as a receiver still broken would.
    let refused = receiver.received().len();
    let rest = 8usize.saturating_sub(refused);
    // Use up the rest of the script with requests of our own, so that the receiver has
    // recovered when krog sends again.
    for _ in 0..rest {
        let _ = app.client.post(receiver.url("/warmup")).send().await;
    }
    let before = receiver.received().len();

    let (status, enabled) = app
        .post(
            &format!("/v1/tenants/{tenant}/subscriptions/{}/enable", id(&sub)),
            &key,
            json!({"resend_failed": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["resent"], 2, "{enabled}");
    assert_eq!(enabled["subscription"]["enabled"], true);
    assert_eq!(enabled["subscription"]["disabled_reason"], Value::Null);

    for event in &events {
        app.wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d[0]["status"] == "succeeded"
        })
        .await;
    }
    let got = receiver.wait_for(before + 2).await;
    let resent: Vec<&str> = got[before..]
        .iter()
        .map(|r| r.header("webhook-id"))
        .collect();
    for event in &events {
        assert!(
            resent.contains(&event["id"].as_str().unwrap()),
            "{resent:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), before + 2, "each sent once");
    let sub = subscription(&app, &tenant, &key, id(&sub)).await;
    assert_eq!(sub["enabled"], true, "{sub}");
}

#[tokio::test]
async fn a_dry_run_shows_what_the_slack_formatter_makes_of_an_operational_event() {
    let app = TestApp::spawn().await;
    let (_, key) = app.tenant("klinik").await;
    let event = json!({"type": "krog.subscription.disabled", "timestamp": "2026-12-03T10:00:00Z",
        "data": {"subscription_id": "sub_1", "description": "Bookingark",
                 "destination_host": "docs.google.com", "reason": "failing",
                 "since": "2026-11-28T09:30:00Z"}});
    let (status, run) = app
        .post(
            "/v1/modules/slack/run",
            &key,
            json!({"event": event, "config": {"locale": "en"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["outcome"], "deliver", "{run}");
    assert!(
        run["body"]
            .as_str()
            .unwrap()
            .contains("The integration to docs.google.com was stopped"),
        "{run}"
    );
}
