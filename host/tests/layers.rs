//! The layering of `host/src`: imports point down only. A module of a layer may use its own
//! layer and those below it, never one above (see the crate's `lib.rs` for the layers).
//! Read from the source: every `crate::<module>` path outside comments counts, whether in a
//! `use` or inline.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layer of each top-level module of the crate, lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    ("model", &["model"]),
    ("store", &["store"]),
    (
        "support",
        &[
            "config",
            "Config",
            "destinations",
            "dry_run",
            "files",
            "limits",
            "plugin_config",
            "schema",
            "secrets",
            "signing",
            "telemetry",
        ],
    ),
    ("directory", &["directory"]),
    ("worker", &["worker"]),
    // The API's state (the pipeline's handles and the API's own) is the API's.
    ("api", &["api", "state"]),
    // The console's pages call the API's operations, as a client of the same rules.
    ("console", &["console"]),
    ("top", &["startup", "Application", "server", "cli"]),
];

/// The sandbox crate, usable from every layer but the model.
const RUNTIME: &str = "runtime";

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn home(relative: &Path) -> String {
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The top-level modules a source text reaches through `crate::`, comments left out.
fn reached(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(stripped) = rest.strip_prefix('{') {
                // `crate::{a, b::c}`: each item of the group.
                let group = stripped.split('}').next().unwrap_or("");
                for item in group.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Every upward import under `src`, as "file: uses module".
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let module = home(relative);
        // lib.rs and main.rs tie the crate together: they are above every layer.
        let Some(own) = layer_of(&module) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for used in reached(&text) {
            let allowed = if used == RUNTIME {
                own > 0
            } else {
                match layer_of(&used) {
                    Some(layer) => layer <= own,
                    None => {
                        wrong.push(format!(
                            "{}: uses crate::{used}, which no layer lists (add it to LAYERS in host/tests/layers.rs)",
                            relative.display()
                        ));
                        continue;
                    }
                }
            };
            if !allowed {
                wrong.push(format!(
                    "{}: in layer {} uses crate::{used}, in layer {} above it",
                    relative.display(),
                    LAYERS[own].0,
                    layer_of(&used).map_or(RUNTIME, |l| LAYERS[l].0)
                ));
            }
        }
    }
    wrong
}

#[test]
fn every_import_in_the_crate_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let wrong = upward_imports(&src);
    assert!(
        wrong.is_empty(),
        "imports that point up a layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_top_level_module_of_the_crate_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .map(|name| name.trim_end_matches(';'))
        .filter(|name| layer_of(name).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer in host/tests/layers.rs: {missing:?}"
    );
}

#[test]
fn the_check_sees_an_upward_import_in_a_use_a_group_and_an_inline_path() {
    let text = "use crate::model::Event;\nuse crate::{api, store::Db};\n// crate::startup in a comment\nlet x = crate::worker::queue::spill;";
    let found: Vec<String> = reached(text).into_iter().collect();
    assert_eq!(found, ["api", "model", "store", "worker"]);
}
