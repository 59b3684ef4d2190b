//! A machine without the `wasm32-wasip2` target is stopped at cargo's first call, within
//! seconds, with the one command to run (`scripts/rustc-wrapper.sh`, wired in
//! `.cargo/config.toml`, runs `scripts/wasm-target-check.sh`). The target cannot be uninstalled
//! here, so the check is given fake toolchains: as rustup lays one out with and without the
//! target, a toolchain rustup does not manage, and through cargo with a rustc that reports a
//! toolchain without it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// A fake sysroot: rustup's list of components (`None`: no list, as on a toolchain rustup does
/// not manage) and the files in the target's `lib/`.
fn sysroot(name: &str, components: Option<&str>, target_files: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sysroot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let lib = root.join("lib/rustlib/wasm32-wasip2/lib");
    std::fs::create_dir_all(&lib).unwrap();
    if let Some(components) = components {
        std::fs::write(root.join("lib/rustlib/components"), components).unwrap();
    }
    for file in target_files {
        std::fs::write(lib.join(file), b"").unwrap();
    }
    root
}

/// Runs the check on `sysroot`: `Ok` or its message.
fn check(sysroot: &Path) -> Result<(), String> {
    let output = Command::new("sh")
        .arg(workspace().join("scripts/wasm-target-check.sh"))
        .arg(sysroot)
        .output()
        .unwrap();
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

const RUSTUP_HOST: &str = "rustc-x86_64-unknown-linux-gnu\nrust-std-x86_64-unknown-linux-gnu\n";

#[test]
fn an_installed_target_passes_the_check() {
    let rustup = sysroot(
        "rustup",
        Some(&format!("{RUSTUP_HOST}rust-std-wasm32-wasip2\n")),
        &["libstd-0123abcd.rlib", "libcore-0123abcd.rlib"],
    );
    assert_eq!(check(&rustup), Ok(()));
    let unmanaged = sysroot("unmanaged", None, &["libstd-0123abcd.rlib"]);
    assert_eq!(check(&unmanaged), Ok(()));
    // And the toolchain building this test has it.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let real = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    assert_eq!(check(Path::new(real.trim())), Ok(()));
}

#[test]
fn a_missing_target_is_named_with_the_command_that_installs_it() {
    // rustup removed the component and left its directory; no target at all; no toolchain.
    let removed = sysroot("removed", Some(RUSTUP_HOST), &[]);
    let empty = sysroot("empty", None, &[]);
    let nothing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-sysroot");
    for sysroot in [removed, empty, nothing] {
        let why = check(&sysroot).expect_err("the target is missing");
        assert!(
            why.trim_end()
                .ends_with("run `rustup target add wasm32-wasip2`"),
            "{why}"
        );
    }
}

#[test]
fn cargo_stops_within_seconds_on_a_toolchain_without_the_target() {
    let config = std::fs::read_to_string(workspace().join(".cargo/config.toml")).unwrap();
    assert!(
        config.contains(r#"rustc-wrapper = "scripts/rustc-wrapper.sh""#),
        "{config}"
    );
    let without = sysroot("without", Some(RUSTUP_HOST), &[]);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("src")).unwrap();
    std::fs::write(
        tmp.join("Cargo.toml"),
        "[package]\nname = \"fresh\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(tmp.join("src/main.rs"), "fn main() {}\n").unwrap();
    // A rustc that is the real one, except that its sysroot lacks the target.
    let fake_rustc = tmp.join("rustc");
    std::fs::write(
        &fake_rustc,
        format!(
            "#!/bin/sh\nif [ \"$1 $2\" = \"--print sysroot\" ]; then echo {}; exit 0; fi\nexec rustc \"$@\"\n",
            without.display()
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&fake_rustc)
        .status()
        .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let started = Instant::now();
    let output = Command::new(cargo)
        .arg("build")
        .arg("--config")
        .arg(format!(
            "build.rustc-wrapper={:?}",
            workspace()
                .join("scripts/rustc-wrapper.sh")
                .display()
                .to_string()
        ))
        .current_dir(&tmp)
        .env("RUSTC", &fake_rustc)
        .env("CARGO_TARGET_DIR", tmp.join("target"))
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("run `rustup target add wasm32-wasip2`"),
        "{stderr}"
    );
    assert!(
        !tmp.join("target/debug/fresh").exists(),
        "nothing was built"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}
