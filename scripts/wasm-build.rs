// Builds workspace packages to `wasm32-wasip2` with a nested cargo and copies the components into
// `OUT_DIR`: the one copy of these rules, included with `include!` by the build scripts that
// embed components, `host/runtime/build.rs` (the example plugins) and
// `test-plugins/components/build.rs` (the test plugins).
//
// The nested cargo uses a target dir of its own, `<workspace>/target/<name>`: sharing the outer
// build's target dir would deadlock on its lock, and each build script names its own, so that
// two running at once do not wait on each other's lock either. The environment the outer cargo
// gives build scripts (flags, target, wrappers) is scrubbed so it cannot leak into the wasm
// build.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Builds `components` ((package, file name in `OUT_DIR`)) in `target/<target_dir_name>` of the
/// workspace two levels above the calling crate, and copies them into `OUT_DIR`. The build
/// script reruns when a path of `watched` (relative to the workspace root), the workspace's
/// `Cargo.toml` or `Cargo.lock` changes.
fn build_wasm_components(target_dir_name: &str, components: &[(&str, &str)], watched: &[&str]) {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("the crate sits two levels below the workspace root")
        .to_path_buf();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = workspace.join("target").join(target_dir_name);

    for watched in watched.iter().chain(&["Cargo.toml", "Cargo.lock"]) {
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
    for (package, _) in components {
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
    for (package, file) in components {
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
