//! `/openapi.json` drives a client: openapi-python-client (pinned with hashes in
//! `tests/openapi-client/requirements.txt`, installed by `tests/openapi-client/venv.sh` into
//! `target/openapi-client-venv`) generates a Python client from the document the service
//! serves, and that client creates a tenant, a key, a subscription and an event; the delivery
//! arrives, signed with the secret the client was given.

#[allow(dead_code)]
mod common;

/// This test runs on SQLite.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::path::PathBuf;
use std::process::Command;

use common::{ADMIN_KEY, Receiver, TestApp, fresh, verify};

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi-client")
}

/// Runs `command`, failing the test with its output unless it succeeds; its stdout.
fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn a_client_generated_from_the_openapi_document_creates_a_tenant_a_subscription_and_an_event()
{
    let _ = BACKEND;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let document = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("openapi.json");
    std::fs::write(&spec, &document).unwrap();
    let event = work.path().join("event.json");
    std::fs::write(&event, fresh("created").to_string()).unwrap();

    let outcome = tokio::task::spawn_blocking({
        let work = work.path().to_owned();
        let base = app.base.clone();
        let receiver_url = receiver.url("/generated");
        move || {
            let venv = run(
                Command::new("bash").arg(client_dir().join("venv.sh")),
                "making the generator's virtualenv",
            );
            let venv = PathBuf::from(venv.trim());
            run(
                Command::new(venv.join("bin/openapi-python-client"))
                    .args(["generate", "--meta", "none", "--path"])
                    .arg(&spec)
                    .arg("--output-path")
                    .arg(work.join("krog_client")),
                "generating the client",
            );
            run(
                Command::new(venv.join("bin/python"))
                    .arg(client_dir().join("drive.py"))
                    .arg(&spec)
                    .arg(&work)
                    .args([&base, ADMIN_KEY, &receiver_url])
                    .arg(&event),
                "driving krog through the generated client",
            )
        }
    })
    .await
    .unwrap();
    let outcome: serde_json::Value =
        serde_json::from_str(outcome.trim()).expect("drive.py prints JSON");
    assert_eq!(outcome["tenant"][0], 201, "{outcome}");
    assert_eq!(outcome["key"][0], 201, "{outcome}");
    assert_eq!(outcome["subscription"][0], 201, "{outcome}");
    assert_eq!(
        outcome["event"],
        serde_json::json!([202, outcome["event"][1], 1])
    );
    let got = receiver.wait_for(1).await;
    let secret = outcome["subscription"][2].as_str().unwrap();
    verify(secret, &got[0]).expect("the delivery verifies with the secret the client got");
    assert!(got[0].json()["blocks"].is_array(), "a Slack message");
}
