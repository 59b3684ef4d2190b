//! The JavaScript and Python plugins of the catalog are committed as components
//! (`example-plugins/prebuilt/`), because building them fetches npm and PyPI packages. This test
//! rebuilds them from their sources with `scripts/build-guest-plugins.sh` and checks that, on
//! every fixture and several configs, the committed component, the rebuilt one and the source
//! run natively (node, python) give the same outcome. (Neither build is byte-for-byte
//! reproducible: both snapshot a running interpreter.)
//!
//! It needs Node.js with `npm ci` done in `plugin-sdk/js` and `example-plugins/teams`, and a
//! Python (`PYTHON`, default `python3`) with `plugin-sdk/python/requirements.txt` installed, as
//! `.ci/run` does. Without them it says so and passes, unless `KROG_GUEST_TOOLCHAINS=1` (set by
//! `.ci/run`), where a missing toolchain fails it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::FIXTURES;
use krog_runtime::{EventInput, Outcome, Runtime, RuntimeConfig, catalog, command::parse_event};
use serde_json::{Value, json};

/// One outcome, as both sides can state it.
#[derive(Debug, PartialEq)]
enum Comparable {
    Skip(String),
    Deliver(String, Vec<(String, String)>, String),
    Error(String),
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the toolchains are here; with `KROG_GUEST_TOOLCHAINS=1` their absence is a failure.
fn toolchains() -> bool {
    let required = std::env::var("KROG_GUEST_TOOLCHAINS").is_ok_and(|v| v == "1");
    let node = root().join("example-plugins/teams/node_modules/componentize-qjs");
    let py = Command::new(python())
        .args(["-c", "import componentize_py"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let present = node.is_dir() && py;
    assert!(
        present || !required,
        "KROG_GUEST_TOOLCHAINS=1 but the guest toolchains are missing (node_modules of \
         example-plugins/teams: {}, componentize_py importable by {}: {py}); run what .ci/run runs",
        node.is_dir(),
        python()
    );
    if !present {
        eprintln!("skipped: the JavaScript/Python toolchains are not installed (see .ci/run)");
    }
    present
}

fn cases(configs: &[&str]) -> Vec<(EventInput, String)> {
    FIXTURES
        .iter()
        .flat_map(|(_, text)| {
            let event = parse_event(text).unwrap();
            configs.iter().map(move |c| (event.clone(), c.to_string()))
        })
        .collect()
}

fn wasm(runtime: &Runtime, wasm: &[u8], cases: &[(EventInput, String)]) -> Vec<Comparable> {
    let module = runtime.load(wasm).expect("the component loads");
    cases
        .iter()
        .map(
            |(event, config)| match runtime.transform(&module, event, config) {
                Ok(execution) => match execution.outcome {
                    Outcome::Skip { reason } => Comparable::Skip(reason),
                    Outcome::Deliver {
                        content_type,
                        headers,
                        body,
                    } => {
                        Comparable::Deliver(content_type, headers, String::from_utf8(body).unwrap())
                    }
                },
                Err(failure) => Comparable::Error(failure.message),
            },
        )
        .collect()
}

/// Runs `program` with the cases as JSON on stdin; it answers one JSON object per case.
fn native(mut command: Command, cases: &[(EventInput, String)]) -> Vec<Comparable> {
    use std::io::Write;
    let input: Vec<Value> = cases
        .iter()
        .map(|(e, config)| {
            json!({"event": {"id": e.id, "type": e.event_type, "timestamp": e.timestamp,
                             "data": serde_json::from_str::<Value>(&e.data).unwrap()},
                   "config": config})
        })
        .collect();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the native runner starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the native runner failed");
    let answers: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    answers
        .into_iter()
        .map(|a| match a["outcome"].as_str().unwrap() {
            "skip" => Comparable::Skip(a["reason"].as_str().unwrap().into()),
            "deliver" => Comparable::Deliver(
                a["contentType"].as_str().unwrap().into(),
                serde_json::from_value(a["headers"].clone()).unwrap(),
                a["body"].as_str().unwrap().into(),
            ),
            _ => Comparable::Error(a["error"].as_str().unwrap().into()),
        })
        .collect()
}

const NODE_RUNNER: &str = r#"
import { readFileSync } from "node:fs";
import { run } from "@krog/plugin-sdk/testing";
import plugin from "./src/index.js";
const answers = JSON.parse(readFileSync(0, "utf8")).map(({ event, config }) => {
  try {
    const out = run(plugin, { ...event }, config);
    return out.outcome === "skip" ? out : { outcome: "deliver", contentType: out.contentType, headers: out.headers, body: out.text };
  } catch (error) {
    return { outcome: "error", error: error.message };
  }
});
process.stdout.write(JSON.stringify(answers));
"#;

const PYTHON_RUNNER: &str = r#"
import json, sys
from krog_plugin import Skip
from krog_plugin.booking import Event
from krog_plugin.testing import PluginFailed, run
from reminder import transform
answers = []
for case in json.load(sys.stdin):
    e = case["event"]
    event = Event.from_parts(e["id"], e["type"], e["timestamp"], "local", json.dumps(e["data"]))
    try:
        out = run(transform, event, case["config"])
    except PluginFailed as failed:
        answers.append({"outcome": "error", "error": str(failed)})
        continue
    if isinstance(out, Skip):
        answers.append({"outcome": "skip", "reason": out.reason})
    else:
        answers.append({"outcome": "deliver", "contentType": out.content_type,
                        "headers": out.headers, "body": out.text()})
json.dump(answers, sys.stdout)
"#;

fn the_same_everywhere(name: &str, native_runner: Command, configs: &[&str], rebuilt: &Path) {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(common::shared_cache_dir()),
        cache_key: Some(common::SHARED_CACHE_KEY),
        ..Default::default()
    })
    .unwrap();
    let cases = cases(configs);
    let committed = wasm(&runtime, catalog::builtin(name).unwrap().wasm, &cases);
    let rebuilt = wasm(&runtime, &std::fs::read(rebuilt).unwrap(), &cases);
    let native = native(native_runner, &cases);
    for (i, (event, config)) in cases.iter().enumerate() {
        let case = format!("{name} on {} with {config}", event.event_type);
        assert_eq!(committed[i], native[i], "committed vs source, {case}");
        assert_eq!(rebuilt[i], native[i], "rebuilt vs source, {case}");
    }
}

#[test]
fn the_committed_guest_components_do_what_their_sources_do() {
    if !toolchains() {
        return;
    }
    let out = tempfile_dir();
    let status = Command::new(root().join("scripts/build-guest-plugins.sh"))
        .arg(&out)
        .env("PYTHON", python())
        .status()
        .expect("the build script runs");
    assert!(status.success(), "scripts/build-guest-plugins.sh failed");

    let mut node = Command::new("node");
    node.args(["--input-type=module", "-e", NODE_RUNNER])
        .current_dir(root().join("example-plugins/teams"));
    the_same_everywhere(
        "teams",
        node,
        &[
            "{}",
            r#"{"locale":"da","client":"full","include_notes":true}"#,
            r#"{"locale":"de","client":"initials","include_price":true,"title_prefix":"K"}"#,
            r#"{"locale":"fr"}"#,
        ],
        &out.join("teams.wasm"),
    );

    let mut py = Command::new(python());
    py.args(["-c", PYTHON_RUNNER])
        .current_dir(root().join("example-plugins/reminder"))
        .env(
            "PYTHONPATH",
            format!(
                "{}:{}",
                root().join("example-plugins/reminder/src").display(),
                root().join("plugin-sdk/python/src").display()
            ),
        );
    the_same_everywhere(
        "reminder",
        py,
        &[
            "{}",
            r#"{"locale":"en","hours_before":2,"clinic_name":"KN"}"#,
            r#"{"locale":"de","max_segments":1,"confirm_cancellations":false}"#,
            r#"{"locale":"fr"}"#,
        ],
        &out.join("reminder.wasm"),
    );
    let _ = std::fs::remove_dir_all(out);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("krog-guest-rebuild-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
