//! Whether a Rust toolchain can build for `wasm32-wasip2`. The build script of this crate (a
//! dependency of `krog-runtime` without dependencies of its own, so that cargo can run it as
//! soon as it starts) stops the build with the one command to run when the target is missing,
//! instead of letting the plugins' build fail after minutes of compiling.

use std::path::Path;

/// The target krog's plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// What to do when the target is missing.
pub const FIX: &str = "rustup target add wasm32-wasip2";

/// Why the toolchain at `sysroot` (`rustc --print sysroot`) cannot build for [`TARGET`], or
/// `None` when it can. A standard library for the target must be there; on a toolchain rustup
/// manages, its list of installed components (`lib/rustlib/components`) must name it too, since
/// `rustup target remove` may leave empty directories behind.
pub fn missing_target(sysroot: &Path) -> Option<String> {
    let rustlib = sysroot.join("lib").join("rustlib");
    let component = format!("rust-std-{TARGET}");
    if let Ok(components) = std::fs::read_to_string(rustlib.join("components"))
        && !components.lines().any(|line| line.trim() == component)
    {
        return Some(format!(
            "the {TARGET} target is not installed in the toolchain at {} (rustup lists no \
             {component}), so krog's plugins cannot be built; run `{FIX}`",
            sysroot.display()
        ));
    }
    let lib = rustlib.join(TARGET).join("lib");
    let has_std = std::fs::read_dir(&lib).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libstd-") && name.ends_with(".rlib")
        })
    });
    if has_std {
        None
    } else {
        Some(format!(
            "the {TARGET} target is not installed in the toolchain at {} (no standard library \
             in {}), so krog's plugins cannot be built; run `{FIX}`",
            sysroot.display(),
            lib.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysroot under cargo's temp dir: `components` (None: no such file, as on a
    /// toolchain rustup does not manage) and the files of the target's `lib/`.
    fn sysroot(name: &str, components: Option<&str>, std_files: &[&str]) -> std::path::PathBuf {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("sysroot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let lib = root.join("lib/rustlib").join(TARGET).join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        if let Some(components) = components {
            std::fs::write(root.join("lib/rustlib/components"), components).unwrap();
        }
        for file in std_files {
            std::fs::write(lib.join(file), b"").unwrap();
        }
        root
    }

    #[test]
    fn an_installed_target_passes() {
        let rustup = sysroot(
            "rustup",
            Some("rustc-x86_64-unknown-linux-gnu\nrust-std-x86_64-unknown-linux-gnu\nrust-std-wasm32-wasip2\n"),
            &["libstd-0123abcd.rlib", "libcore-0123abcd.rlib"],
        );
        assert_eq!(missing_target(&rustup), None);
        let distro = sysroot("distro", None, &["libstd-0123abcd.rlib"]);
        assert_eq!(missing_target(&distro), None);
    }

    #[test]
    fn a_missing_target_names_the_command_that_installs_it() {
        // rustup removed the component but left the directory behind.
        let removed = sysroot(
            "removed",
            Some("rustc-x86_64-unknown-linux-gnu\nrust-std-x86_64-unknown-linux-gnu\n"),
            &[],
        );
        let empty = sysroot("empty", None, &[]);
        let nothing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-sysroot");
        for sysroot in [removed, empty, nothing] {
            let why = missing_target(&sysroot).expect("the target is missing");
            assert!(why.ends_with("run `rustup target add wasm32-wasip2`"), "{why}");
        }
    }

    #[test]
    fn the_toolchain_building_this_test_has_the_target() {
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let output = std::process::Command::new(rustc)
            .args(["--print", "sysroot"])
            .output()
            .unwrap();
        let sysroot = String::from_utf8(output.stdout).unwrap();
        assert_eq!(missing_target(Path::new(sysroot.trim())), None);
    }
}
