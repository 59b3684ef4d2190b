//! Kill -9 under load: the real `krog` binary as a child process, killed mid-stream and
//! restarted on the same database. Every event that got its 202 must reach the receiver.

#[allow(dead_code)]
mod common;

/// The crash test runs the binary on SQLite.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ADMIN_KEY, Receiver, fresh};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The `krog` binary next to this test's executable (built by `cargo test --workspace`), or
/// built now when missing.
fn krog_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join(format!("krog{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "krog", "--bin", "krog"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the krog binary failed");
    }
    bin
}

/// Starts `krog serve` on port 0 and returns it with its base URL, read from its log.
async fn start_krog(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(krog_binary())
        .arg("serve")
        .current_dir(dir)
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", format!("sqlite:{}", dir.join("krog.db").display()))
        .env("KROG_ADMIN_KEY", ADMIN_KEY)
        .env("KROG_ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("KROG_ALLOW_HTTP", "true")
        .env("KROG_RETRY_SCHEDULE", "50ms,100ms,200ms,500ms,1s,1s")
        .env("KROG_SQLITE_SYNCHRONOUS", "NORMAL")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("krog starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.split("address=").nth(1).filter(|_| line.contains("listening")) {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("krog exited before listening");
    })
    .await
    .expect("krog listens within a minute");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, format!("http://{address}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_krog_delivers_every_accepted_event_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let (mut child, base) = start_krog(dir.path()).await;
    let client = reqwest::Client::new();
    let post = |path: String, key: String, body: serde_json::Value| {
        let client = client.clone();
        async move { client.post(path).bearer_auth(key).json(&body).send().await }
    };
    post(format!("{base}/v1/tenants"), ADMIN_KEY.into(), json!({"id": "crash", "name": "Crash"})).await.unwrap();
    let key: serde_json::Value =
        post(format!("{base}/v1/tenants/crash/keys"), ADMIN_KEY.into(), json!({})).await.unwrap().json().await.unwrap();
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
        let (client, base, key, accepted) = (client.clone(), base.clone(), key.clone(), accepted.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let event = fresh("created");
                let id = event["id"].as_str().unwrap().to_owned();
                match client.post(format!("{base}/v1/tenants/crash/events")).bearer_auth(&key).json(&event).send().await {
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
    assert!(accepted.len() >= 100, "only {} accepted before the kill", accepted.len());
    let delivered_before: HashSet<String> =
        receiver.received().iter().map(|r| r.header("webhook-id").to_owned()).collect();

    let (mut child, _base) = start_krog(dir.path()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = receiver.received();
        let per_path = |p: &str| -> HashSet<String> {
            got.iter().filter(|r| r.path == p).map(|r| r.header("webhook-id").to_owned()).collect()
        };
        let (one, two) = (per_path("/one"), per_path("/two"));
        let missing: Vec<_> = accepted.iter().filter(|id| !one.contains(*id) || !two.contains(*id)).collect();
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
