//! Stops the build at once when the `wasm32-wasip2` target is missing (see `src/lib.rs`).

#[path = "src/lib.rs"]
#[allow(dead_code)]
mod check;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/lib.rs");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = std::process::Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    // Without a sysroot there is nothing to judge; rustc's own error will follow.
    if let Some(sysroot) = sysroot
        && let Some(why) = check::missing_target(std::path::Path::new(&sysroot))
    {
        eprintln!("error: {why}");
        println!("cargo::error={why}");
        std::process::exit(1);
    }
}
