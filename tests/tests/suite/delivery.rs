//! Ingest → fan-out → transform → signed delivery, seen from outside: a real krog, a real
//! receiver, signatures checked with the independent `standardwebhooks` crate.

use std::time::Duration;

use crate::common::{ADMIN_KEY, Answer, Receiver, TestApp, fresh, verify};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_event_without_a_transform_arrives_as_the_signed_envelope() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/hook"), "event_types": ["booking.created"]}),
        )
        .await;
    let event = fresh("created");
    let accepted = app.ingest(&tenant, &key, event.clone()).await;
    assert_eq!(accepted["id"], event["id"]);
    assert_eq!(accepted["deliveries"], 1);

    let got = receiver.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(
        body,
        json!({"type": event["type"], "timestamp": event["timestamp"], "data": event["data"]})
    );
    assert_eq!(got[0].header("webhook-id"), event["id"].as_str().unwrap());
    assert_eq!(got[0].header("content-type"), "application/json");
    verify(sub["secret"].as_str().unwrap(), &got[0]).expect("signature verifies");
    assert!(
        verify(
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            &got[0]
        )
        .is_err()
    );

    let deliveries = app
        .wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d.len() == 1 && d[0]["status"] == "succeeded"
        })
        .await;
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(attempts[0]["response"], "receiver says hi");
}

#[tokio::test]
async fn events_fan_out_only_to_enabled_subscriptions_of_their_type() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    for (path, types, enabled) in [
        ("/a", json!(["booking.created", "booking.updated"]), true),
        ("/b", json!(["booking.created"]), true),
        ("/c", json!(["booking.deleted"]), true),
        ("/d", json!(["booking.created"]), false),
    ] {
        app.subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url(path), "event_types": types, "enabled": enabled}),
        )
        .await;
    }
    let accepted = app.ingest(&tenant, &key, fresh("created")).await;
    assert_eq!(accepted["deliveries"], 2);
    let got = receiver.wait_for(2).await;
    let mut paths: Vec<_> = got.iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["/a", "/b"]);
}

#[tokio::test]
async fn a_slack_subscription_receives_a_slack_message() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/slack"), "event_types": ["booking.updated"],
                   "transform": {"module": "slack", "config": {"locale": "en"}}}),
        )
        .await;
    let event = fresh("updated");
    app.ingest(&tenant, &key, event.clone()).await;
    let got = receiver.wait_for(1).await;
    let body = got[0].json();
    assert!(body["text"].is_string(), "{body}");
    assert!(body["blocks"].is_array(), "{body}");
    let text = String::from_utf8_lossy(&got[0].body);
    assert!(
        !text.contains("jens.odegaard@example.com"),
        "client contact must not leak by default"
    );
    verify(sub["secret"].as_str().unwrap(), &got[0]).expect("signature verifies");
}

#[tokio::test]
async fn a_filter_skip_is_recorded_without_an_http_call() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/filtered"), "event_types": ["booking.created"],
               "transform": {"module": "filter", "config": {"therapist_ids": ["th_nobody"]}}}),
    )
    .await;
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d.len() == 1 && d[0]["status"] != "pending"
        })
        .await;
    assert_eq!(deliveries[0]["status"], "skipped");
    assert!(
        deliveries[0]["skip_reason"]
            .as_str()
            .unwrap()
            .contains("th_nobody"),
        "{}",
        deliveries[0]
    );
    assert!(deliveries[0]["attempts"].as_array().unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_and_both_verify() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/r"), "event_types": ["booking.created"]}),
        )
        .await;
    let old = sub["secret"].as_str().unwrap().to_owned();
    let id = sub["id"].as_str().unwrap();
    let (status, rotated) = app
        .post(
            &format!("/v1/tenants/{tenant}/subscriptions/{id}/rotate-secret"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    let (_, listed) = app
        .get(&format!("/v1/tenants/{tenant}/subscriptions/{id}"), &key)
        .await;
    assert!(
        listed.get("secret").is_none(),
        "a secret is never listed again: {listed}"
    );

    app.ingest(&tenant, &key, fresh("created")).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    verify(&old, &got[0]).expect("the old secret still verifies");
    verify(&new, &got[0]).expect("the new secret verifies");
}

#[tokio::test]
async fn failed_attempts_are_retried_until_success_and_each_is_recorded() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script([Answer::status(500), Answer::status(503)]);
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/flaky"), "event_types": ["booking.created"]}),
        )
        .await;
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;
    let got = receiver.wait_for(3).await;
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == event["id"].as_str().unwrap())
    );
    for r in &got {
        verify(sub["secret"].as_str().unwrap(), r).expect("every retry is signed");
    }
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d[0]["status"] == "succeeded"
        })
        .await;
    let codes: Vec<_> = deliveries[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(503), json!(200)]);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script([Answer {
        status: 429,
        headers: vec![("retry-after", "1".into())],
    }]);
    let (tenant, key) = app.tenant("klinik").await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/slow-down"), "event_types": ["booking.created"]}),
    )
    .await;
    app.ingest(&tenant, &key, fresh("created")).await;
    let got = receiver.wait_for(2).await;
    let gap = got[1].at - got[0].at;
    // The schedule says ~50 ms; Retry-After says one second.
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn gone_disables_the_subscription() {
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
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d[0]["status"] == "failed"
        })
        .await;
    assert_eq!(deliveries[0]["attempts"].as_array().unwrap().len(), 1);
    let (_, sub) = app
        .get(
            &format!(
                "/v1/tenants/{tenant}/subscriptions/{}",
                sub["id"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(sub["enabled"], false);
    assert_eq!(sub["disabled_reason"], "gone");
    assert!(sub["disabled_at"].is_string(), "{sub}");
    let accepted = app.ingest(&tenant, &key, fresh("created")).await;
    assert_eq!(
        accepted["deliveries"], 0,
        "a disabled subscription gets nothing"
    );
}

#[tokio::test]
async fn exhausted_retries_end_failed_and_can_be_retried_by_hand() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    // Four attempts (three retries in the test schedule), all refused.
    receiver.script((0..4).map(|_| Answer::status(500)));
    let (tenant, key) = app.tenant("klinik").await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/down"), "event_types": ["booking.created"]}),
    )
    .await;
    let event = fresh("created");
    let event_id = event["id"].as_str().unwrap().to_owned();
    app.ingest(&tenant, &key, event).await;
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "failed")
        .await;
    assert_eq!(deliveries[0]["attempts"].as_array().unwrap().len(), 4);
    assert!(deliveries[0]["next_attempt_at"].is_null());

    let id = deliveries[0]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/deliveries/{id}/retry"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "succeeded")
        .await;
    assert_eq!(deliveries[0]["attempts"].as_array().unwrap().len(), 5);
    let (_, one) = app
        .get(&format!("/v1/tenants/{tenant}/deliveries/{id}"), &key)
        .await;
    assert_eq!(one["request"]["content_type"], "application/json");
    assert!(one["request"]["body"].as_str().unwrap().contains("bk_1042"));
}

#[tokio::test]
async fn the_request_a_delivery_shows_is_the_one_its_last_attempt_sent() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = vec![]).await;
    let receiver = Receiver::start().await;
    // The Slack message is refused; by the replay the transform is gone.
    receiver.script([Answer::status(500)]);
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/shown"), "event_types": ["booking.created"],
                   "transform": {"module": "slack", "config": {}}}),
        )
        .await;
    let event = fresh("created");
    let event_id = event["id"].as_str().unwrap().to_owned();
    app.ingest(&tenant, &key, event).await;
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "failed")
        .await;
    let id = deliveries[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/tenants/{tenant}/deliveries/{id}");
    let (_, one) = app.get(&path, &key).await;
    let slack = receiver.wait_for(1).await;
    assert_eq!(
        one["request"]["body"].as_str().unwrap().as_bytes(),
        &slack[0].body[..],
        "the Slack message as sent"
    );

    let sub_path = format!(
        "/v1/tenants/{tenant}/subscriptions/{}",
        sub["id"].as_str().unwrap()
    );
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &sub_path,
            &key,
            Some(json!({"transform": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post(&format!("{path}/retry"), &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    app.wait_for_deliveries(&tenant, &key, &event_id, |d| d[0]["status"] == "succeeded")
        .await;
    let envelope = receiver.wait_for(2).await;
    let (_, one) = app.get(&path, &key).await;
    assert_eq!(one["request"]["content_type"], "application/json");
    assert_eq!(
        one["request"]["body"].as_str().unwrap().as_bytes(),
        &envelope[1].body[..],
        "the envelope as sent, not the earlier Slack message"
    );
}

#[tokio::test]
async fn failed_deliveries_since_a_time_can_be_retried_in_bulk() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = vec![]).await;
    let receiver = Receiver::start().await;
    receiver.script((0..3).map(|_| Answer::status(500)));
    let (tenant, key) = app.tenant("klinik").await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/bulk"), "event_types": ["booking.created"]}),
    )
    .await;
    let since = chrono::Utc::now().to_rfc3339();
    let mut ids = vec![];
    for _ in 0..3 {
        let event = fresh("created");
        ids.push(event["id"].as_str().unwrap().to_owned());
        app.ingest(&tenant, &key, event).await;
    }
    for id in &ids {
        app.wait_for_deliveries(&tenant, &key, id, |d| d[0]["status"] == "failed")
            .await;
    }
    let (status, body) = app
        .post(
            &format!("/v1/tenants/{tenant}/deliveries/retry"),
            &key,
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["retried"], 3);
    for id in &ids {
        app.wait_for_deliveries(&tenant, &key, id, |d| d[0]["status"] == "succeeded")
            .await;
    }
}

#[tokio::test]
async fn the_same_event_id_is_accepted_once() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/once"), "event_types": ["booking.created"]}),
    )
    .await;
    let event = fresh("created");
    let first = app.ingest(&tenant, &key, event.clone()).await;
    let second = app.ingest(&tenant, &key, event.clone()).await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["deliveries"], 1);
    assert_eq!(second["duplicate"], true);
    receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    let (_, page) = app
        .get(&format!("/v1/tenants/{tenant}/deliveries"), &key)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_event_without_an_id_gets_one() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let mut event = fresh("created");
    event.as_object_mut().unwrap().remove("id");
    event.as_object_mut().unwrap().remove("timestamp");
    let accepted = app.ingest(&tenant, &key, event).await;
    assert!(accepted["id"].as_str().unwrap().starts_with("evt_"));
}

#[tokio::test]
async fn the_test_route_sends_a_sample_booking() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/t"), "event_types": ["booking.deleted"]}),
        )
        .await;
    let (status, body) = app
        .post(
            &format!(
                "/v1/tenants/{tenant}/subscriptions/{}/test",
                sub["id"].as_str().unwrap()
            ),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "booking.created");
    verify(sub["secret"].as_str().unwrap(), &got[0]).unwrap();
}

#[tokio::test]
async fn a_tenant_key_sees_only_its_own_tenant() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (a, key_a) = app.tenant("alpha").await;
    let (b, key_b) = app.tenant("beta").await;
    let sub = app
        .subscribe(
            &a,
            &key_a,
            json!({"url": receiver.url("/a"), "event_types": ["booking.created"]}),
        )
        .await;
    let sub_id = sub["id"].as_str().unwrap();
    let event = fresh("created");
    app.ingest(&a, &key_a, event.clone()).await;

    for (method, path) in [
        ("GET", format!("/v1/tenants/{a}/subscriptions")),
        ("GET", format!("/v1/tenants/{a}/subscriptions/{sub_id}")),
        ("GET", format!("/v1/tenants/{a}/deliveries")),
        ("POST", format!("/v1/tenants/{a}/events")),
        (
            "POST",
            format!("/v1/tenants/{a}/subscriptions/{sub_id}/rotate-secret"),
        ),
    ] {
        let (status, body) = app
            .call(
                method.parse().unwrap(),
                &path,
                &key_b,
                Some(fresh("created")),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body["code"], "not_found");
    }
    // Its own tenant's path with another tenant's subscription id is 404 too.
    let (status, _) = app
        .get(&format!("/v1/tenants/{b}/subscriptions/{sub_id}"), &key_b)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Tenant keys cannot do admin things.
    let (status, _) = app.get("/v1/tenants", &key_b).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.post("/v1/tenants", &key_b, json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The admin sees both.
    let (status, tenants) = app.get("/v1/tenants", ADMIN_KEY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenants["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn bad_input_is_answered_with_a_4xx_json_error_and_never_a_5xx() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let events = app.url(&format!("/v1/tenants/{tenant}/events"));
    let subs = app.url(&format!("/v1/tenants/{tenant}/subscriptions"));
    let huge = format!(
        "{{\"type\":\"booking.created\",\"data\":{{\"notes\":\"{}\"}}}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let cases: Vec<(&str, String, Option<&str>, String, u16)> = vec![
        ("malformed JSON", events.clone(), Some(key.as_str()), "{\"type\": ".into(), 400),
        ("not JSON at all", events.clone(), Some(key.as_str()), "hello".into(), 400),
        ("unknown event type", events.clone(), Some(key.as_str()), r#"{"type":"booking.exploded","data":{}}"#.into(), 422),
        ("data not an object", events.clone(), Some(key.as_str()), r#"{"type":"booking.created","data":[1,2]}"#.into(), 422),
        ("wrong type of id", events.clone(), Some(key.as_str()), r#"{"id":12,"type":"booking.created","data":{}}"#.into(), 422),
        ("bad timestamp", events.clone(), Some(key.as_str()), r#"{"type":"booking.created","timestamp":"tuesday","data":{}}"#.into(), 422),
        ("missing data", events.clone(), Some(key.as_str()), r#"{"type":"booking.created"}"#.into(), 422),
        ("oversized body", events.clone(), Some(key.as_str()), huge, 413),
        ("missing auth", events.clone(), None, r#"{"type":"booking.created","data":{}}"#.into(), 401),
        ("wrong key", events.clone(), Some("krog_nope"), r#"{"type":"booking.created","data":{}}"#.into(), 401),
        ("wrong tenant", app.url("/v1/tenants/nobody/events"), Some(key.as_str()), r#"{"type":"booking.created","data":{}}"#.into(), 404),
        ("bad URL", subs.clone(), Some(key.as_str()), r#"{"url":"not a url","event_types":["booking.created"]}"#.into(), 422),
        ("ftp URL", subs.clone(), Some(key.as_str()), r#"{"url":"ftp://example.com/x","event_types":["booking.created"]}"#.into(), 422),
        ("no event types", subs.clone(), Some(key.as_str()), r#"{"url":"https://example.com/x","event_types":[]}"#.into(), 422),
        ("unknown event type in subscription", subs.clone(), Some(key.as_str()), r#"{"url":"https://example.com/x","event_types":["booking.moved"]}"#.into(), 422),
        ("unknown module", subs.clone(), Some(key.as_str()), r#"{"url":"https://example.com/x","event_types":["booking.created"],"transform":{"module":"nope","config":{}}}"#.into(), 422),
        ("config against the schema", subs.clone(), Some(key.as_str()), r#"{"url":"https://example.com/x","event_types":["booking.created"],"transform":{"module":"slack","config":{"locale":42}}}"#.into(), 422),
        ("unknown field", subs.clone(), Some(key.as_str()), r#"{"url":"https://example.com/x","event_types":["booking.created"],"colour":"red"}"#.into(), 422),
        ("unknown route", app.url("/v1/nothing"), Some(key.as_str()), "{}".into(), 404),
        ("unknown delivery", app.url(&format!("/v1/tenants/{tenant}/deliveries/dlv_nope/retry")), Some(key.as_str()), "{}".into(), 404),
        ("bad status filter", app.url(&format!("/v1/tenants/{tenant}/deliveries?status=lost")), Some(key.as_str()), String::new(), 422),
    ];
    for (what, url, auth, body, expected) in cases {
        let method = if what == "bad status filter" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let mut request = app
            .client
            .request(method, &url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = auth {
            request = request.bearer_auth(auth);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, expected, "{what}: {text}");
        let error: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
        assert!(
            error["code"].is_string() && error["message"].is_string(),
            "{what}: {error}"
        );
    }
}

#[tokio::test]
async fn private_destinations_are_refused_unless_allowed() {
    let app = TestApp::spawn_with(|c| c.allow_private_destinations = false).await;
    let (tenant, key) = app.tenant("klinik").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.1/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ] {
        let (status, body) = app
            .post(
                &format!("/v1/tenants/{tenant}/subscriptions"),
                &key,
                json!({"url": url, "event_types": ["booking.created"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("private"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn health_metrics_and_the_api_document_answer_without_a_key() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    app.subscribe(
        &tenant,
        &key,
        json!({"url": receiver.url("/m"), "event_types": ["booking.created"]}),
    )
    .await;
    app.ingest(&tenant, &key, fresh("created")).await;
    receiver.wait_for(1).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let metrics = app.metrics().await;
    assert!(metrics.contains("krog_events_accepted_total"), "{metrics}");
    let doc: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/tenants/{tenant}/events"]["post"].is_object());
    assert!(doc["paths"]["/v1/tenants/{tenant}/subscriptions/{id}"]["patch"].is_object());
}

/// Migration 0003 rebuilt the attempts table around the delivery each attempt belongs to. A
/// database from before it keeps its attempts, and a delivery still lists them oldest first.
#[tokio::test]
async fn attempts_recorded_before_an_upgrade_are_kept_and_listed_oldest_first() {
    use crate::common::{Backend, TestDatabase};

    let db = TestDatabase::new().await;
    let dialect = match crate::BACKEND {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../host/migrations")
        .join(dialect);
    let mut before = sqlx::migrate::Migrator::new(dir).await.unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    sqlx::any::install_default_drivers();
    let url = match crate::BACKEND {
        Backend::Sqlite => format!("{}?mode=rwc", db.url),
        Backend::Postgres => db.url.clone(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    before.run(&pool).await.unwrap();
    for sql in [
        "INSERT INTO tenants (id, name, created_at) VALUES ('acme', 'Acme', 1)",
        "INSERT INTO events (tenant_id, id, event_type, timestamp, data, deliveries, created_at) \
         VALUES ('acme', 'evt_1', 'booking.created', '2026-11-01T10:00:00Z', '{}', 1, 1)",
        "INSERT INTO deliveries (id, tenant_id, event_id, subscription_id, status, attempt_count, \
         created_at, updated_at) VALUES ('dlv_1', 'acme', 'evt_1', 'sub_1', 'failed', 2, 1, 3)",
        // Stored newest first, and with ids that sort against the order they were made in.
        "INSERT INTO attempts (id, delivery_id, at, duration_ms, status_code, error, error_kind, \
         response, node) VALUES ('att_a', 'dlv_1', 1764590402000, 5, 503, \
         'the endpoint answered 503 Service Unavailable', 'http_status', 'busy', 'node_a')",
        "INSERT INTO attempts (id, delivery_id, at, duration_ms, status_code, error, error_kind, \
         response, node) VALUES ('att_b', 'dlv_1', 1764590401000, 7, NULL, \
         'connection refused', 'connect', NULL, 'node_a')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let app = TestApp::spawn_on(db, |_| {}).await;
    let (status, delivery) = app
        .get("/v1/tenants/acme/deliveries/dlv_1", ADMIN_KEY)
        .await;
    assert_eq!(status, StatusCode::OK, "{delivery}");
    let attempts = delivery["attempts"].as_array().expect("attempts");
    let kinds: Vec<_> = attempts.iter().map(|a| a["kind"].as_str()).collect();
    assert_eq!(kinds, [Some("connect"), Some("http_status")], "{delivery}");
    assert_eq!(attempts[1]["status_code"], 503);
    assert_eq!(attempts[1]["response"], "busy");
}
