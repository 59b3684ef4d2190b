//! `krog plugin run` and `POST /v1/tenants/{t}/events` read the event envelope with one parser
//! (`krog-envelope`): over a table of good and bad envelopes, the command line runs the plugin
//! exactly when the API accepts the event.

use crate::common::console::plugin_with_schema;
use crate::common::{TestApp, krog_binary};
use reqwest::StatusCode;

/// A component of krog's `transformer` world that skips every event, so that a run of
/// `krog plugin run` only tells whether the envelope was accepted.
fn skipping_plugin() -> Vec<u8> {
    plugin_with_schema(&serde_json::json!({}))
}

/// Envelopes (as text: some are not JSON values) and whether krog takes them.
fn envelopes() -> Vec<(String, bool)> {
    let good = |text: &str| (text.to_string(), true);
    let bad = |text: &str| (text.to_string(), false);
    let long_id = |n: usize| {
        format!(
            r#"{{"id":"{}","type":"booking.created","data":{{}}}}"#,
            "e".repeat(n)
        )
    };
    vec![
        good(r#"{"type":"booking.created","data":{"id":"bk_1"}}"#),
        good(
            r#"{"id":"evt_a1","type":"booking.updated","timestamp":"2026-12-02T10:00:00Z","data":{}}"#,
        ),
        good(
            r#"{"id":"evt_a2","type":"booking.deleted","timestamp":"2026-12-02T10:00:00.123+01:00","data":{}}"#,
        ),
        good(r#"{"id":null,"type":"booking.created","timestamp":null,"data":{}}"#),
        good(r#"{"type":"booking.created","data":{},"source":"calendar","version":2}"#),
        good(r#" { "type" : "booking.created" , "data" : { "b" : [1, 2], "a" : null } } "#),
        (long_id(255), true),
        bad("{"),
        bad(""),
        bad("[]"),
        bad(r#""booking.created""#),
        bad("null"),
        bad(r#"{"data":{}}"#),
        bad(r#"{"type":"booking.moved","data":{}}"#),
        bad(r#"{"type":"BOOKING.CREATED","data":{}}"#),
        bad(r#"{"type":7,"data":{}}"#),
        bad(r#"{"type":"booking.created"}"#),
        bad(r#"{"type":"booking.created","data":null}"#),
        bad(r#"{"type":"booking.created","data":[1]}"#),
        bad(r#"{"type":"booking.created","data":"{}"}"#),
        bad(r#"{"id":"","type":"booking.created","data":{}}"#),
        bad(r#"{"id":"evt 1","type":"booking.created","data":{}}"#),
        bad(r#"{"id":"evt\t1","type":"booking.created","data":{}}"#),
        bad(r#"{"id":"evt\u0007","type":"booking.created","data":{}}"#),
        bad(r#"{"id":42,"type":"booking.created","data":{}}"#),
        (long_id(256), false),
        bad(r#"{"type":"booking.created","timestamp":"yesterday","data":{}}"#),
        bad(r#"{"type":"booking.created","timestamp":"2026-12-02","data":{}}"#),
        bad(r#"{"type":"booking.created","timestamp":1764669600,"data":{}}"#),
        bad(r#"{"type":"booking.created","type":"booking.updated","data":{}}"#),
    ]
}

#[tokio::test]
async fn krog_plugin_run_and_the_api_accept_and_refuse_the_same_envelopes() {
    let app = TestApp::spawn().await;
    let (tenant, key) = app.tenant("klinik").await;
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("skip.wasm");
    std::fs::write(&module, skipping_plugin()).unwrap();
    let event = dir.path().join("event.json");
    for (envelope, expected) in envelopes() {
        let response = app
            .client
            .post(app.url(&format!("/v1/tenants/{tenant}/events")))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(envelope.clone())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer = response.text().await.unwrap();
        let by_api = status == StatusCode::ACCEPTED.as_u16();
        assert!(
            by_api || (400..500).contains(&status),
            "{envelope}: {status} {answer}"
        );

        std::fs::write(&event, &envelope).unwrap();
        let output = tokio::process::Command::new(krog_binary())
            .args(["plugin", "run"])
            .arg(&module)
            .arg("--event")
            .arg(&event)
            .current_dir(dir.path())
            .output()
            .await
            .unwrap();
        // Exit 0: the plugin ran on the event; 1: the command refused its input.
        let by_command = output.status.success();
        assert!(
            by_command || output.status.code() == Some(1),
            "{envelope}: {:?} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );

        assert_eq!(
            (by_api, by_command),
            (expected, expected),
            "{envelope}: the API answered {status} {answer}; the command said {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
