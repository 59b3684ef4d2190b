//! What an operator sees of failures: the real binary logs each failed attempt at WARN, at most
//! once per subscription per window, and `/metrics` describes every family (`# HELP`), keeps
//! latencies in histogram buckets, and counts attempts by outcome and error kind.

#[allow(dead_code)]
mod common;

/// This test runs the binary on SQLite.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::collections::HashSet;
use std::time::Duration;

use common::{ADMIN_KEY, Answer, Receiver, fresh, start_krog_logged};
use serde_json::{Value, json};

#[tokio::test]
async fn operators_see_each_failing_subscription_in_the_log_and_every_attempt_in_metrics() {
    let _ = BACKEND;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("krog.db").display());
    let (_child, base, log) = start_krog_logged(
        dir.path(),
        &url,
        &[("KROG_RETRY_SCHEDULE", "50ms,50ms,50ms")],
    )
    .await;
    let client = reqwest::Client::new();
    let call = |path: &str, key: &str, body: Value| {
        let request = client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<Value>().await.unwrap()
        }
    };
    call(
        "/v1/tenants",
        ADMIN_KEY,
        json!({"id": "ops", "name": "Klinik"}),
    )
    .await;
    let key = call("/v1/tenants/ops/keys", ADMIN_KEY, json!({})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let receiver = Receiver::start().await;
    // Every attempt at /down fails (four per event); /up takes them; the filter skips.
    receiver.script((0..8).map(|_| Answer::status(503)));
    let down = call(
        "/v1/tenants/ops/subscriptions",
        &key,
        json!({"url": receiver.url("/down"), "event_types": ["booking.created"]}),
    )
    .await;
    let down_id = down["id"].as_str().unwrap().to_owned();
    let skipping = call(
        "/v1/tenants/ops/subscriptions",
        &key,
        json!({"url": receiver.url("/skipped"), "event_types": ["booking.created"],
               "transform": {"module": "filter", "config": {"therapist_ids": ["th_nobody"]}}}),
    )
    .await;
    for _ in 0..2 {
        call("/v1/tenants/ops/events", &key, fresh("created")).await;
    }
    // Both events' attempts at /down: 2 × 4, all failing.
    receiver.wait_for(8).await;
    let metrics_url = format!("{base}/metrics");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let text = client
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(r#"outcome="failed""#) && text.contains(r#"outcome="skipped""#) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "attempts not counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The log: one WARN line for the failing subscription (the rest held back in its window),
    // with ids and the kind, and none for the subscription that skipped.
    let lines = log.lock().unwrap().clone();
    let warned: Vec<&String> = lines.iter().filter(|l| l.contains(" WARN ")).collect();
    let about_down: Vec<&&String> = warned.iter().filter(|l| l.contains(&down_id)).collect();
    assert_eq!(about_down.len(), 1, "one line per window: {warned:#?}");
    assert!(
        about_down[0].contains("delivery attempt failed")
            && about_down[0].contains("kind=\"http_status\"")
            && about_down[0].contains("status_code=503"),
        "{}",
        about_down[0]
    );
    let skipping_id = skipping["id"].as_str().unwrap();
    assert!(
        !warned.iter().any(|l| l.contains(skipping_id)),
        "a skip is no failure: {warned:#?}"
    );

    // Metrics: every family has its help, no summaries, attempts by outcome and kind.
    let mut helped = HashSet::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split_whitespace().next().unwrap().to_owned());
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split_whitespace();
            let family = words.next().unwrap();
            assert!(helped.contains(family), "no # HELP before {line}");
            assert_ne!(words.next(), Some("summary"), "{line}");
        }
    }
    assert!(!metrics.contains("quantile="), "{metrics}");
    assert!(
        metrics.contains("krog_delivery_attempt_seconds_bucket{le=\"0.005\"}"),
        "{metrics}"
    );
    for (outcome, kind) in [
        ("retrying", "http_status"),
        ("failed", "http_status"),
        ("skipped", "none"),
    ] {
        let series =
            format!(r#"krog_delivery_attempts_total{{outcome="{outcome}",kind="{kind}"}}"#);
        let series_swapped =
            format!(r#"krog_delivery_attempts_total{{kind="{kind}",outcome="{outcome}"}}"#);
        assert!(
            metrics.contains(&series) || metrics.contains(&series_swapped),
            "{series} in\n{metrics}"
        );
    }
}
