//! Kill -9 under load: the real `krog` binary as a child process, killed mid-stream and
//! restarted on the same database. Every event that got its 202 must reach the receiver.

#[allow(dead_code)]
mod common;

/// The crash test runs the binary on SQLite.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ADMIN_KEY, Receiver, fresh, start_krog};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_krog_delivers_every_accepted_event_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let (mut child, base) = start_krog(
        dir.path(),
        &format!("sqlite:{}", dir.path().join("krog.db").display()),
        &[],
    )
    .await;
    let client = reqwest::Client::new();
    let post = |path: String, key: String, body: serde_json::Value| {
        let client = client.clone();
        async move { client.post(path).bearer_auth(key).json(&body).send().await }
    };
    post(
        format!("{base}/v1/tenants"),
        ADMIN_KEY.into(),
        json!({"id": "crash", "name": "Crash"}),
    )
    .await
    .unwrap();
    let key: serde_json::Value = post(
        format!("{base}/v1/tenants/crash/keys"),
        ADMIN_KEY.into(),
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    for path in ["/one", "/two"] {
        let response = post(
            format!("{base}/v1/tenants/crash/subscriptions"),
            key.clone(),
            json!({"url": receiver.url(path), "event_types": ["booking.created"]}),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 201);
    }

    // Eight senders post as fast as they can; an id counts once its 202 has arrived.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let mut senders = vec![];
    for _ in 0..8 {
        let (client, base, key, accepted) =
            (client.clone(), base.clone(), key.clone(), accepted.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let event = fresh("created");
                let id = event["id"].as_str().unwrap().to_owned();
                match client
                    .post(format!("{base}/v1/tenants/crash/events"))
                    .bearer_auth(&key)
                    .json(&event)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 202 => {
                        accepted.lock().unwrap().insert(id);
                    }
                    _ => return,
                }
            }
        }));
    }
    // Kill it mid-stream, once a good number of events are in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while accepted.lock().unwrap().len() < 300 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= 100,
        "only {} accepted before the kill",
        accepted.len()
    );
    let delivered_before: HashSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();

    let (mut child, _base) = start_krog(
        dir.path(),
        &format!("sqlite:{}", dir.path().join("krog.db").display()),
        &[],
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = receiver.received();
        let per_path = |p: &str| -> HashSet<String> {
            got.iter()
                .filter(|r| r.path == p)
                .map(|r| r.header("webhook-id").to_owned())
                .collect()
        };
        let (one, two) = (per_path("/one"), per_path("/two"));
        let missing: Vec<_> = accepted
            .iter()
            .filter(|id| !one.contains(*id) || !two.contains(*id))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} accepted events never arrived (e.g. {:?}); {} had arrived before the kill",
            missing.len(),
            accepted.len(),
            missing.first(),
            delivered_before.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
