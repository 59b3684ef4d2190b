//! The JavaScript and Python plugins of the catalog (and the runtime tests' hostile guests) are
//! committed as components (`example-plugins/prebuilt/`, `test-plugins/prebuilt/`), because
//! building them fetches npm and PyPI packages. Neither build is byte-for-byte reproducible (both
//! snapshot a running interpreter), so what ties a committed component to its sources is:
//! - `scripts/build-guest-plugins.sh` records the SHA-256 of every file they are built from in
//!   `example-plugins/prebuilt/sources.sha256`, and this test checks that the tree still holds
//!   exactly those files: a source changed without a rebuild fails it;
//! - on every fixture and several configs, the committed component and the source run natively
//!   (node, python) give the same outcome;
//! - with `KROG_GUEST_REBUILD=1`, the components are rebuilt with the script and the rebuilt
//!   ones compared the same way. This is left out of CI because compiling a freshly built Python
//!   component (never in the artifact cache: its bytes differ on each build) takes minutes in a
//!   test build; CI builds both languages from source in `tests/tests/author_walk.rs`, with the
//!   same SDK builds.
//!
//! The native runs need Node.js with `npm ci` done in `plugin-sdk/js` and
//! `example-plugins/teams`, and a Python (`PYTHON`, default `python3`) with
//! `plugin-sdk/python/requirements.txt` installed, as `.ci/run` does. Without them those tests say
//! so and pass, unless `KROG_GUEST_TOOLCHAINS=1` (set by `.ci/run`), where a missing toolchain
//! fails them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::FIXTURES;
use common::envelope::parse_event;
use krog_runtime::{EventInput, Outcome, Runtime, RuntimeConfig, catalog};
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

/// The runtime's outcomes for the component `wasm` against the source's, run natively.
fn the_same_as_the_source(what: &str, wasm_bytes: &[u8], native_runner: Command, configs: &[&str]) {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(common::shared_cache_dir()),
        cache_key: Some(common::SHARED_CACHE_KEY),
        ..Default::default()
    })
    .unwrap();
    let cases = cases(configs);
    let component = wasm(&runtime, wasm_bytes, &cases);
    let native = native(native_runner, &cases);
    for (i, (event, config)) in cases.iter().enumerate() {
        assert_eq!(
            component[i], native[i],
            "{what} vs its source, on {} with {config}",
            event.event_type
        );
    }
}

const TEAMS_CONFIGS: &[&str] = &[
    "{}",
    r#"{"locale":"da","client":"full","include_notes":true}"#,
    r#"{"locale":"de","client":"initials","include_price":true,"title_prefix":"K"}"#,
    r#"{"locale":"fr"}"#,
];

const REMINDER_CONFIGS: &[&str] = &[
    "{}",
    r#"{"locale":"en","hours_before":2,"clinic_name":"KN"}"#,
    r#"{"locale":"de","max_segments":1,"confirm_cancellations":false}"#,
    r#"{"locale":"fr"}"#,
];

fn node_runner() -> Command {
    let mut node = Command::new("node");
    node.args(["--input-type=module", "-e", NODE_RUNNER])
        .current_dir(root().join("example-plugins/teams"));
    node
}

fn python_runner() -> Command {
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
    py
}

/// The roots the guest components are built from; `sources` lists their files.
const SOURCE_ROOTS: &[&str] = &[
    "plugin-sdk/wit",
    "plugin-sdk/js",
    "plugin-sdk/python",
    "example-plugins/teams",
    "example-plugins/reminder",
    "test-plugins/hostile-js",
    "test-plugins/hostile-py",
];

/// `sha256sum` lines of every file under [`SOURCE_ROOTS`], sorted by path, as the build script
/// writes them: not installed packages, build output, tests, hidden files, Markdown, bytecode
/// or symbolic links.
fn sources() -> String {
    use sha2::{Digest, Sha256};
    fn walk(dir: &Path, relative: &str, files: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let skipped = ["node_modules", "dist", "__pycache__", "test", "tests"];
            if skipped.contains(&name.as_str()) || name.starts_with('.') {
                continue;
            }
            let path = format!("{relative}/{name}");
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&entry.path(), &path, files);
            } else if kind.is_file() && !name.ends_with(".md") && !name.ends_with(".pyc") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for source_root in SOURCE_ROOTS {
        walk(&root().join(source_root), source_root, &mut files);
    }
    files.sort();
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(root().join(path)).unwrap();
            format!("{}  {path}\n", hex::encode(Sha256::digest(&bytes)))
        })
        .collect()
}

#[test]
fn the_committed_guest_components_were_built_from_the_sources_in_the_tree() {
    let recorded =
        std::fs::read_to_string(root().join("example-plugins/prebuilt/sources.sha256")).unwrap();
    let now = sources();
    let changed: Vec<&str> = now
        .lines()
        .filter(|line| !recorded.lines().any(|r| r == *line))
        .chain(
            recorded
                .lines()
                .filter(|line| !now.lines().any(|n| n == *line)),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "the guest components' sources differ from those they were built from; run \
         scripts/build-guest-plugins.sh and commit what it writes. Differing lines (now, then \
         recorded):\n{}",
        changed.join("\n")
    );
}

#[test]
fn the_committed_guest_components_do_what_their_sources_do() {
    if !toolchains() {
        return;
    }
    the_same_as_the_source(
        "the committed teams",
        catalog::builtin("teams").unwrap().wasm,
        node_runner(),
        TEAMS_CONFIGS,
    );
    the_same_as_the_source(
        "the committed reminder",
        catalog::builtin("reminder").unwrap().wasm,
        python_runner(),
        REMINDER_CONFIGS,
    );
}

#[test]
fn rebuilt_guest_components_do_what_their_sources_do() {
    if std::env::var("KROG_GUEST_REBUILD").is_ok_and(|v| v == "1") {
        assert!(toolchains(), "KROG_GUEST_REBUILD=1 needs the toolchains");
    } else {
        eprintln!("skipped: set KROG_GUEST_REBUILD=1 to rebuild the guest components");
        return;
    }
    let out = tempfile_dir();
    let status = Command::new(root().join("scripts/build-guest-plugins.sh"))
        .arg(&out)
        .env("PYTHON", python())
        .status()
        .expect("the build script runs");
    assert!(status.success(), "scripts/build-guest-plugins.sh failed");
    let teams = std::fs::read(out.join("teams.wasm")).unwrap();
    the_same_as_the_source("the rebuilt teams", &teams, node_runner(), TEAMS_CONFIGS);
    let reminder = std::fs::read(out.join("reminder.wasm")).unwrap();
    the_same_as_the_source(
        "the rebuilt reminder",
        &reminder,
        python_runner(),
        REMINDER_CONFIGS,
    );
    let _ = std::fs::remove_dir_all(out);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("krog-guest-rebuild-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
