//! Builds the example plugins (embedded in the catalog) and the test plugins to
//! `wasm32-wasip2`, and copies the components into `OUT_DIR`.
//!
//! The nested cargo uses its own target dir (`<workspace>/target/wasm-plugins`): sharing the
//! outer build's target dir would deadlock on its lock. The environment the outer cargo gives
//! build scripts (flags, target, wrappers) is scrubbed so it cannot leak into the wasm build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, file name in OUT_DIR)
const PLUGINS: &[(&str, &str)] = &[
    ("krog-plugin-slack", "slack.wasm"),
    ("krog-plugin-sheets", "sheets.wasm"),
    ("krog-plugin-filter", "filter.wasm"),
    ("krog-plugin-redact", "redact.wasm"),
    ("krog-test-plugin-hostile", "hostile.wasm"),
    ("krog-test-plugin-wrong-world", "wrong-world.wasm"),
];

const TARGET: &str = "wasm32-wasip2";

/// Variables that would change what the nested cargo builds, or where.
const SCRUBBED: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_INCREMENTAL",
    "CARGO_BUILD_INCREMENTAL",
    "CARGO_PROFILE_RELEASE_DEBUG",
    "CARGO_PROFILE_RELEASE_STRIP",
    "CARGO_PROFILE_RELEASE_LTO",
    "CARGO_PROFILE_RELEASE_OPT_LEVEL",
    "CARGO_PROFILE_RELEASE_PANIC",
];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("host/runtime sits two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = workspace.join("target").join("wasm-plugins");

    for watched in [
        "plugin-sdk",
        "example-plugins",
        "test-plugins",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    check_target_installed(&rustc, &workspace);

    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for (package, _) in PLUGINS {
        command.args(["-p", package]);
    }
    for var in SCRUBBED {
        command.env_remove(var);
    }
    // Small components: no debug info (names stay, for backtraces). One codegen unit and LTO
    // let the SDK, serde_json and the plugin inline into each other.
    command
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");

    let output = command
        .output()
        .unwrap_or_else(|e| panic!("could not run {cargo:?} to build the plugins: {e}"));
    if !output.status.success() {
        panic!(
            "building the wasm plugins failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let built = target_dir.join(TARGET).join("release");
    for (package, file) in PLUGINS {
        let from = built.join(format!("{}.wasm", package.replace('-', "_")));
        let to = out_dir.join(file);
        std::fs::copy(&from, &to)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
    }
}

/// The check `scripts/rustc-wrapper.sh` makes at cargo's first call (`scripts/wasm-target-check.sh`,
/// the one copy of the rule), again here for a build that bypassed the wrapper or a toolchain
/// that lost the target since.
fn check_target_installed(rustc: &std::ffi::OsStr, workspace: &Path) {
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(sysroot) = sysroot else { return };
    let check = workspace.join("scripts").join("wasm-target-check.sh");
    println!("cargo:rerun-if-changed={}", check.display());
    let verdict = Command::new("sh").arg(&check).arg(&sysroot).output();
    if let Ok(output) = verdict
        && !output.status.success()
    {
        panic!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
}
