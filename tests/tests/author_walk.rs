//! The README's author walk, per language, as an author follows it: `krog plugin new`, install
//! the toolchain's packages, test natively, `krog plugin build`, `krog plugin check`, upload
//! through the API, a subscription using the module, an event delivered and its signature
//! verified. The `krog` commands are the real binary's.
//!
//! Rust needs what building krog needs (cargo, the wasm32-wasip2 target, crates.io or a warm
//! cache); its builds share `target/stranger` with the other tests that build a stranger's
//! plugin crate, so that the crates they have in common are compiled once. JavaScript needs
//! Node.js and npm, Python a `python3` (3.11 or later, with venv), both reaching their package
//! registries (or a warm cache). Without them those walks say so and pass, unless
//! `KROG_GUEST_TOOLCHAINS=1` (set by `.ci/run`), where a missing toolchain fails them.

#[allow(dead_code)]
mod common;

/// The walks run on SQLite.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Receiver, TestApp, fresh, krog_binary, verify};
use reqwest::StatusCode;
use serde_json::json;

fn required() -> bool {
    std::env::var("KROG_GUEST_TOOLCHAINS").is_ok_and(|v| v == "1")
}

/// Whether `program --version` runs; with `KROG_GUEST_TOOLCHAINS=1` its absence is a failure.
fn have(program: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || !required(),
        "KROG_GUEST_TOOLCHAINS=1 but {program} is missing"
    );
    if !ok {
        eprintln!("skipped: {program} is not installed");
    }
    ok
}

/// Runs a command in `dir` as a step of the walk; its stdout.
fn step(dir: &Path, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    step_with(dir, program, args, |_| {})
}

/// [`step`], with the command adjusted by `setup` first (its environment).
fn step_with(
    dir: &Path,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    setup: impl FnOnce(&mut Command),
) -> String {
    let mut command = Command::new(&program);
    command
        .args(args)
        .current_dir(dir)
        .env_remove("VIRTUAL_ENV");
    setup(&mut command);
    let output: Output = command
        .output()
        .unwrap_or_else(|e| panic!("{:?} {args:?}: {e}", program.as_ref()));
    assert!(
        output.status.success(),
        "{:?} {args:?} in {} failed ({}):\n{}\n{}",
        program.as_ref(),
        dir.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn krog(dir: &Path, args: &[&str]) -> String {
    step(dir, krog_binary(), args)
}

/// `krog plugin build` then `krog plugin check`: the component's bytes.
fn build_and_check(project: &Path, name: &str) -> Vec<u8> {
    build_and_check_with(project, name, |_| {})
}

/// [`build_and_check`], with the build's command adjusted by `setup`.
fn build_and_check_with(project: &Path, name: &str, setup: impl FnOnce(&mut Command)) -> Vec<u8> {
    let wasm = PathBuf::from(step_with(project, krog_binary(), &["plugin", "build"], setup).trim());
    assert!(wasm.is_absolute() && wasm.is_file(), "{}", wasm.display());
    let check = krog(project, &["plugin", "check", wasm.to_str().unwrap()]);
    assert!(check.starts_with("ok: "), "{check}");
    assert!(check.contains(&format!("name: {name}\n")), "{check}");
    std::fs::read(wasm).unwrap()
}

/// Upload, subscribe, ingest, and the greeting arrives signed.
async fn deliver(name: &str, wasm: Vec<u8>) {
    // Default limits but for the call's time limit: this unoptimised build on two shared cores
    // is no place to hold a Python instantiation to 100 ms (the upload calls `info`). What a
    // release build takes against the defaults is in BENCHMARKS.md, "Guests: what a transform
    // costs in each language".
    let app = TestApp::spawn_with(|c| c.limits.timeout = std::time::Duration::from_secs(10)).await;
    let receiver = Receiver::start().await;
    let (tenant, key) = app.tenant("klinik").await;
    let (status, version) = app
        .upload(&format!("/v1/tenants/{tenant}/modules/{name}"), &key, wasm)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{version}");
    let sub = app
        .subscribe(
            &tenant,
            &key,
            json!({"url": receiver.url("/greet"), "event_types": ["booking.created"],
                   "transform": {"module": format!("tenant:{name}"), "config": {"greeting": "Hej"}}}),
        )
        .await;
    let event = fresh("created");
    app.ingest(&tenant, &key, event.clone()).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(&got[0].body[..], "Hej, Jens Ødegård!".as_bytes());
    assert_eq!(got[0].header("content-type"), "text/plain; charset=utf-8");
    verify(sub["secret"].as_str().unwrap(), &got[0]).expect("the signature verifies");
    let deliveries = app
        .wait_for_deliveries(&tenant, &key, event["id"].as_str().unwrap(), |d| {
            d.len() == 1 && d[0]["status"] == "succeeded"
        })
        .await;
    assert_eq!(deliveries[0]["attempts"][0]["status_code"], 200);
}

/// What a Rust walk's cargo runs with: the target directory the other tests' stranger crates
/// use, and none of the flags this test's own build was given.
fn shared_cargo_target(command: &mut Command) {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/stranger");
    command
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_author_goes_from_plugin_new_to_a_delivery() {
    let work = tempfile::tempdir().unwrap();
    let made = krog(
        work.path(),
        &["plugin", "new", "greeter-rs", "--lang", "rust"],
    );
    assert!(made.contains("cargo test"), "{made}");
    let project = work.path().join("greeter-rs");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tested = step_with(&project, &cargo, &["test", "--quiet"], shared_cargo_target);
    assert!(tested.contains("test result: ok. 1 passed"), "{tested}");
    let wasm = build_and_check_with(&project, "greeter-rs", shared_cargo_target);
    deliver("greeter-rs", wasm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_author_goes_from_plugin_new_to_a_delivery() {
    if !have("node") || !have("npm") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let made = krog(
        work.path(),
        &["plugin", "new", "greeter-js", "--lang", "js"],
    );
    assert!(made.contains("npm install"), "{made}");
    let project = work.path().join("greeter-js");
    step(
        &project,
        "npm",
        &["install", "--no-audit", "--no-fund", "--prefer-offline"],
    );
    let tested = step(&project, "npm", &["test"]);
    assert!(tested.contains("# pass 1"), "{tested}");
    let wasm = build_and_check(&project, "greeter-js");
    deliver("greeter-js", wasm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_author_goes_from_plugin_new_to_a_delivery() {
    if !have("python3") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let made = krog(
        work.path(),
        &["plugin", "new", "greeter-py", "--lang", "python"],
    );
    assert!(made.contains("pip install"), "{made}");
    let project = work.path().join("greeter-py");
    step(&project, "python3", &["-m", "venv", ".venv"]);
    let pip = project.join(".venv/bin/pip");
    step(
        &project,
        &pip,
        &[
            "install",
            "--quiet",
            "--require-hashes",
            "-r",
            "requirements.txt",
        ],
    );
    let tested = step(&project, project.join(".venv/bin/pytest"), &["-q"]);
    assert!(tested.contains("1 passed"), "{tested}");
    // `krog plugin build` finds the project's .venv by itself.
    let wasm = build_and_check(&project, "greeter-py");
    deliver("greeter-py", wasm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_new_refuses_a_bad_name_and_an_existing_directory_with_the_fix() {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(krog_binary())
        .args(["plugin", "new", "Bad_Name", "--lang", "js"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("a-z, 0-9 and -"), "{error}");
    krog(work.path(), &["plugin", "new", "taken", "--lang", "python"]);
    let output = Command::new(krog_binary())
        .args(["plugin", "new", "taken", "--lang", "rust"])
        .current_dir(work.path())
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("already exists"), "{error}");
    let output = Command::new(krog_binary())
        .args(["plugin", "build"])
        .current_dir(work.path())
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && error.contains("krog plugin new"),
        "{error}"
    );
}
